// Standard library only: baton-exec, which every rank starts, links this module.

/// Parses a duration: `10s`, `500ms`, `2m`, `1.5` (seconds).
public func parseDuration(_ text: String) -> Double? {
    let t = trimmingWhitespace(text)
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, factor) in units where t.hasSuffix(suffix) {
        if let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite { return v * factor }
        return nil
    }
    if let v = Double(t), v >= 0, v.isFinite { return v }
    return nil
}

/// `text` without leading and trailing tabs and Unicode space separators (what
/// `trimmingCharacters(in: .whitespaces)` removes), without needing all of Foundation.
package func trimmingWhitespace(_ text: String) -> String {
    func blank(_ c: Unicode.Scalar) -> Bool { c == "\t" || c.properties.generalCategory == .spaceSeparator }
    let u = text.unicodeScalars
    guard let first = u.firstIndex(where: { !blank($0) }), let last = u.lastIndex(where: { !blank($0) }) else { return "" }
    return String(u[first...last])
}
