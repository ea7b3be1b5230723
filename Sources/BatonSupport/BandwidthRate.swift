/// Bandwidth figures as people write them: `2GB/s`, `500MB/s` (bytes, 1 GB = 1e9, as
/// `bench` prints them), `100Gbit/s`, `100Gb/s`, `400Mbit/s` (bits, as links are sold).
/// The case of the `B` says which: `GB/s` bytes, `Gb/s` bits.
public enum BandwidthRate {
    /// The rate in GB/s (1e9 bytes a second), or nil when `text` is not a positive number
    /// with one of the units above (a bare number is refused: bits or bytes must be said).
    public static func gigabytesPerSecond(_ text: String) -> Double? {
        let t = text.filter { $0 != " " }
        let units: [(String, Double)] = [
            ("GB/s", 1), ("MB/s", 1e-3), ("KB/s", 1e-6),
            ("Gbit/s", 0.125), ("Gb/s", 0.125), ("Mbit/s", 0.125e-3), ("Mb/s", 0.125e-3),
            ("Tbit/s", 125), ("Tb/s", 125), ("TB/s", 1e3),
        ]
        for (unit, scale) in units where t.hasSuffix(unit) {
            guard let v = Double(t.dropLast(unit.count)), v > 0, v.isFinite else { return nil }
            return v * scale
        }
        return nil
    }
}
