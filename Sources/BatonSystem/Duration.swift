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

/// How `formatDuration(_:_:)` writes a number of seconds.
public enum DurationStyle: Sendable, Equatable {
    /// `850ms`, `12.3s`, `4m05s`, `1h02m`: events, status lines, settings shown to a person.
    case compact
    /// `30s` for whole seconds, else `1500ms`: what `parseDuration` reads back (the per-rank
    /// wrapper's argv).
    case argument
    /// `12.3 s`, with `digits` decimals as `%.Nf` writes them: a measured time in a message.
    case seconds(digits: Int)
    /// `42 s`, `3 min`, `2.5 h`: how long ago a run started or changed.
    case coarse
}

/// The one duration formatter.
/// (Integer arithmetic, not `String(format:)`: the grid scheduler formats one per finished
/// config, and Foundation's formatting was 3% of a 100,000-config simulation; and baton-exec
/// links no Foundation.)
public func formatDuration(_ s: Double, _ style: DurationStyle = .compact) -> String {
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    switch style {
    case .compact:
        if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
        if s < 60 {
            let tenths = Int((s * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)s"
        }
        let total = Int(s.rounded())
        if total < 3600 { return "\(total / 60)m\(two(total % 60))s" }
        return "\(total / 3600)h\(two((total % 3600) / 60))m"
    case .argument:
        return s == s.rounded() ? "\(Int(s))s" : "\(Int((s * 1000).rounded()))ms"
    case .seconds(let digits):
        return fixedPoint(s, digits: digits) + " s"
    case .coarse:
        let t = max(0, s)
        if t < 90 { return "\(Int(t)) s" }
        if t < 5400 { return "\(Int(t / 60)) min" }
        return fixedPoint(t / 3600, digits: 1) + " h"
    }
}
