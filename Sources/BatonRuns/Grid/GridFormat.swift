// Moved here from Grid/GridScheduler.swift (BatonCore), unchanged: snapshots format durations too.

public enum GridFormat {
    /// A metric value: whole numbers without a fraction (`step 20`, not `20.0`).
    public static func metric(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : GridValue.format(v)
    }

    /// `850ms`, `12.3s`, `4m05s`, `1h02m`.
    /// (Integer arithmetic, not `String(format:)`: the scheduler formats one per finished
    /// config, and Foundation's formatting was 3% of a 100,000-config simulation.)
    public static func duration(_ s: Double) -> String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        if s < 1 { return "\(Int((s * 1000).rounded()))ms" }
        if s < 60 {
            let tenths = Int((s * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)s"
        }
        let total = Int(s.rounded())
        if total < 3600 { return "\(total / 60)m\(two(total % 60))s" }
        return "\(total / 3600)h\(two((total % 3600) / 60))m"
    }
}
