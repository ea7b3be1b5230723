// Standard library only: baton-exec, which every rank starts, links this module.

/// `v` with `digits` decimals, as `String(format: "%.Nf")` writes it.
package func fixedPoint(_ v: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(v) * scale).rounded()
    guard scaled < 9e18 else { return String(v) }
    let n = UInt64(scaled)
    let p = UInt64(scale)
    var frac = String(n % p)
    while frac.count < digits { frac = "0" + frac }
    return (v < 0 && n != 0 ? "-" : "") + String(n / p) + (digits > 0 ? "." + frac : "")
}
