// Metric values as the grid prints them; durations are `formatDuration` (BatonSystem).

public enum GridFormat {
    /// A metric value: whole numbers without a fraction (`step 20`, not `20.0`).
    public static func metric(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : GridValue.format(v)
    }
}
