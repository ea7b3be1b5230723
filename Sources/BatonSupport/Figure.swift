/// Numbers as the reports print them, without Foundation's locale.
public enum Figure {
    /// `value` with exactly `decimals` digits after the point.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let negative = value < 0
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return String(value) }
        let whole = UInt64(scaled)
        let integerPart = whole / UInt64(scale)
        var text = String(integerPart)
        if decimals > 0 {
            var fraction = String(whole % UInt64(scale))
            while fraction.count < decimals { fraction = "0" + fraction }
            text += "." + fraction
        }
        return (negative && scaled != 0 ? "-" : "") + text
    }

    /// About three significant digits (three decimals under 1): a measured figure in a
    /// sentence (`bench`'s call-outs, the bandwidth gate's reasons).
    public static func short(_ value: Double) -> String {
        if value >= 100 { return fixed(value, decimals: 0) }
        if value >= 10 { return fixed(value, decimals: 1) }
        if value >= 1 { return fixed(value, decimals: 2) }
        return fixed(value, decimals: 3)
    }
}
