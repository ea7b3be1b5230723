/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose output is the
/// same on every machine and every run, unlike Swift's per-process-seeded hashing. Used
/// for the shard permutation's round keys, simulated schedules and example trainers.
public struct SplitMix64: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// SplitMix64's output function: a bijective 64-bit mix.
    @inlinable @inline(__always)
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inlinable
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return Self.mix(state)
    }

    /// Uniform in [0, 1).
    @inlinable
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in [-1, 1).
    @inlinable
    public mutating func signedUnit() -> Double { Double(next() >> 11) / Double(1 << 52) - 1.0 }
}
