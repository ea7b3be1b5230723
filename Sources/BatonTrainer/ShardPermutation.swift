/// The order of one epoch: a bijection on `0..<count` that is a pure function of
/// (seed, epoch, count), computable for one position at a time in O(1) memory.
///
/// Algorithm "feistel-splitmix64-v1" (documented in docs/sharding.md so another language
/// can reproduce it; changing any constant here changes every shuffled plan):
/// - `bits` = max(2, ceil(log2(count))); the domain is `0..<2^bits`, less than 2 x count,
///   so cycle walking (re-encrypting until the value is below `count`) takes under two
///   steps on average.
/// - Eight unbalanced Feistel rounds. A round splits x into `hi` (high) and `lo` (low
///   `loWidth` bits) and returns `lo << hiWidth | (hi ^ (F(lo) & hiMask))`; the widths swap
///   every round, starting with loWidth = bits / 2. F(v) = mix64(v ^ key[i]).
/// - mix64 is SplitMix64's output function (Steele, Lea, Flood 2014; the 0xbf58476d1ce4e5b9 /
///   0x94d049bb133111eb constants are Stafford's "Mix13"). No Swift `Hasher`: it is seeded
///   randomly per process.
/// - Round keys: a SplitMix64 stream whose state starts at
///   mix64(seed) ^ mix64(epoch ^ 0x6a09e667f3bcc908) ^ mix64(count ^ 0xbb67ae8584caa73b);
///   key[i] is the i-th output (state += 0x9e3779b97f4a7c15, then mix64 of the state).
///   Eight rounds rather than Luby-Rackoff's four: F is a fixed mixer, not a random
///   function, and the margin costs a few nanoseconds per index.
public struct ShardPermutation: Sendable, Equatable {
    public let count: Int
    public let seed: UInt64
    public let epoch: Int
    /// False: the identity (no shuffle).
    public let shuffled: Bool

    public static let algorithm = "feistel-splitmix64-v1"
    static let rounds = 8

    let bits: Int
    let keys: [UInt64]

    public init(count: Int, shuffled: Bool, seed: UInt64 = 0, epoch: Int = 0) {
        precondition(count >= 0, "count must be >= 0")
        self.count = count
        self.seed = seed
        self.epoch = epoch
        self.shuffled = shuffled
        var b = 2
        while b < 63 && (1 << b) < count { b += 1 }
        self.bits = b
        var state = Self.mix64(seed) ^ Self.mix64(UInt64(truncatingIfNeeded: epoch) ^ 0x6a09_e667_f3bc_c908)
            ^ Self.mix64(UInt64(truncatingIfNeeded: count) ^ 0xbb67_ae85_84ca_a73b)
        var k: [UInt64] = []
        for _ in 0..<Self.rounds {
            state &+= 0x9e37_79b9_7f4a_7c15
            k.append(Self.mix64(state))
        }
        self.keys = k
    }

    @inline(__always)
    static func mix64(_ x: UInt64) -> UInt64 { SplitMix64.mix(x) }

    /// The sample id at global position `position` of the epoch's order.
    public func sample(at position: Int) -> Int {
        precondition(position >= 0 && position < count, "position \(position) outside 0..<\(count)")
        if !shuffled { return position }
        return keys.withUnsafeBufferPointer { Self.walk(UInt64(position), count: UInt64(count), bits: bits, keys: $0) }
    }

    /// Fills `out[i]` with the sample at position `start + i * stride`, for every i in out.
    /// The tight loop behind writing .npy shards: no allocation per element.
    public func fill(_ out: UnsafeMutableBufferPointer<Int64>, start: Int, stride: Int) {
        if out.isEmpty { return }
        precondition(start >= 0 && start + (out.count - 1) * stride < count)
        if !shuffled {
            var p = start
            for i in 0..<out.count { out[i] = Int64(p); p += stride }
            return
        }
        let n = UInt64(count)
        let b = bits
        keys.withUnsafeBufferPointer { k in
            var p = UInt64(start)
            let s = UInt64(stride)
            var i = 0
            // Four independent positions per step: each Feistel chain is a serial run of
            // multiplies, so interleaving four keeps the multiplier busy (about 3x faster).
            while i + 4 <= out.count {
                var x0 = p, x1 = p &+ s, x2 = p &+ 2 &* s, x3 = p &+ 3 &* s
                Self.encrypt4(&x0, &x1, &x2, &x3, bits: b, keys: k)
                while x0 >= n { x0 = Self.encrypt(x0, bits: b, keys: k) }
                while x1 >= n { x1 = Self.encrypt(x1, bits: b, keys: k) }
                while x2 >= n { x2 = Self.encrypt(x2, bits: b, keys: k) }
                while x3 >= n { x3 = Self.encrypt(x3, bits: b, keys: k) }
                out[i] = Int64(x0)
                out[i + 1] = Int64(x1)
                out[i + 2] = Int64(x2)
                out[i + 3] = Int64(x3)
                p &+= 4 &* s
                i += 4
            }
            while i < out.count {
                out[i] = Int64(Self.walk(p, count: n, bits: b, keys: k))
                p &+= s
                i += 1
            }
        }
    }

    @inline(__always)
    static func encrypt4(_ a: inout UInt64, _ b: inout UInt64, _ c: inout UInt64, _ d: inout UInt64,
                         bits: Int, keys: UnsafeBufferPointer<UInt64>) {
        var loWidth = UInt64(bits / 2)
        var hiWidth = UInt64(bits) - loWidth
        for i in 0..<rounds {
            let loMask = (1 &<< loWidth) &- 1
            let hiMask = (1 &<< hiWidth) &- 1
            let key = keys[i]
            let la = a & loMask, lb = b & loMask, lc = c & loMask, ld = d & loMask
            let fa = mix64(la ^ key) & hiMask
            let fb = mix64(lb ^ key) & hiMask
            let fc = mix64(lc ^ key) & hiMask
            let fd = mix64(ld ^ key) & hiMask
            a = (la &<< hiWidth) | ((a &>> loWidth) ^ fa)
            b = (lb &<< hiWidth) | ((b &>> loWidth) ^ fb)
            c = (lc &<< hiWidth) | ((c &>> loWidth) ^ fc)
            d = (ld &<< hiWidth) | ((d &>> loWidth) ^ fd)
            swap(&loWidth, &hiWidth)
        }
    }

    @inline(__always)
    static func walk(_ position: UInt64, count: UInt64, bits: Int, keys: UnsafeBufferPointer<UInt64>) -> Int {
        var x = position
        repeat {
            x = encrypt(x, bits: bits, keys: keys)
        } while x >= count
        return Int(x)
    }

    @inline(__always)
    static func encrypt(_ value: UInt64, bits: Int, keys: UnsafeBufferPointer<UInt64>) -> UInt64 {
        var x = value
        var loWidth = UInt64(bits / 2)
        var hiWidth = UInt64(bits) - loWidth
        for i in 0..<rounds {
            let lo = x & ((1 &<< loWidth) &- 1)
            let hi = x &>> loWidth
            let f = mix64(lo ^ keys[i]) & ((1 &<< hiWidth) &- 1)
            x = (lo &<< hiWidth) | (hi ^ f)
            swap(&loWidth, &hiWidth)
        }
        return x
    }
}
