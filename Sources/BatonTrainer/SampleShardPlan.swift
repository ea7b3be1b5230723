import Foundation

/// What to do when the remaining samples do not divide evenly among the ranks.
public enum ShardPolicy: String, Codable, Sendable, CaseIterable {
    /// Every sample exactly once; shard sizes differ by at most one.
    case exact
    /// Equal sizes: short shards end with one repeated sample, marked as padding.
    case pad
    /// Equal sizes: the last (remaining mod W) samples of the order are left out and listed.
    case drop
}

/// The file format of a rank's index list.
public enum ShardFormat: String, Sendable, CaseIterable {
    /// numpy .npy, int64, one-dimensional (`numpy.load`).
    case npy
    /// JSON: `{"range": {"start", "step"}, "count"}` when the shard is a range, else `"indices"`.
    case json

    package var fileExtension: String { rawValue }
}

/// Sample-index sharding of one epoch over `world` ranks.
///
/// The epoch's global order is the identity or, with `shuffle`, the permutation
/// `ShardPermutation(count, seed, epoch)`. Positions `0..<consumed` of that order are done;
/// the remaining positions are striped: rank r takes positions consumed + r, consumed + r + W,
/// consumed + r + 2W, ... Nothing of size N is ever materialised.
public struct SampleShardPlan: Sendable, Equatable {
    public let totalCount: Int
    public let world: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let epoch: Int
    public let policy: ShardPolicy
    public let consumed: Int
    public let permutation: ShardPermutation

    /// Largest N accepted: positions and sample ids stay far from Int64 overflow.
    public static let maximumCount = 1 << 62
    /// Largest W accepted: plan.json lists every rank, and no cluster has 16 million ranks.
    public static let maximumWorld = 1 << 24

    /// Throws `ShardError(.badArgument)` when N = 0, W < 1, epoch < 0, or consumed is not in 0...N.
    public init(count: Int, world: Int, shuffle: Bool = false, seed: UInt64 = 0, epoch: Int = 0,
                policy: ShardPolicy = .exact, consumed: Int = 0) throws {
        guard count >= 1 else {
            throw ShardError(.badArgument, "sample count is \(count); it must be at least 1")
        }
        guard count <= Self.maximumCount else {
            throw ShardError(.badArgument, "sample count \(count) is above the supported maximum 2^62")
        }
        guard world >= 1 else {
            throw ShardError(.badArgument, "world size is \(world); it must be at least 1")
        }
        guard world <= Self.maximumWorld else {
            throw ShardError(.badArgument, "world size \(world) is above the supported maximum \(Self.maximumWorld)")
        }
        guard epoch >= 0 else {
            throw ShardError(.badArgument, "epoch is \(epoch); it must be 0 or more")
        }
        guard consumed >= 0 && consumed <= count else {
            throw ShardError(.badArgument, "consumed is \(consumed); it must be between 0 and the sample count \(count)")
        }
        self.totalCount = count
        self.world = world
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch
        self.policy = policy
        self.consumed = consumed
        self.permutation = ShardPermutation(count: count, shuffled: shuffle, seed: seed, epoch: epoch)
    }

    /// Positions of the epoch still to be handed out: N - consumed.
    public var remaining: Int { totalCount - consumed }

    /// Number of real (non-padding) samples in rank's shard.
    public func sampleCount(rank: Int) -> Int {
        checkRank(rank)
        let m = remaining
        switch policy {
        case .exact, .pad: return m / world + (rank < m % world ? 1 : 0)
        case .drop: return m / world
        }
    }

    /// Number of entries in rank's shard, padding included.
    public func count(rank: Int) -> Int {
        checkRank(rank)
        let m = remaining
        switch policy {
        case .exact: return m / world + (rank < m % world ? 1 : 0)
        case .pad: return (m + world - 1) / world
        case .drop: return m / world
        }
    }

    /// Number of padding entries (0 or 1) at the end of rank's shard; only `.pad` has any.
    public func paddingCount(rank: Int) -> Int { count(rank: rank) - sampleCount(rank: rank) }

    /// True when the entry at `position` of rank's shard is padding (a repeat to equalise sizes).
    public func isPadding(rank: Int, position: Int) -> Bool { position >= sampleCount(rank: rank) }

    /// The global sample id at `position` of rank's shard (0 <= position < count(rank:)).
    public func sample(rank: Int, position: Int) -> Int {
        checkRank(rank)
        precondition(position >= 0 && position < count(rank: rank), "position \(position) outside rank \(rank)'s shard of \(count(rank: rank))")
        let j = rank + position * world
        let m = remaining
        // Padding repeats the head of the remaining order, as PyTorch's DistributedSampler does.
        let local = j < m ? j : (j - m) % m
        return permutation.sample(at: consumed + local)
    }

    /// Rank's whole shard as an array (materialises count(rank:) entries).
    public func indices(rank: Int) -> [Int] {
        indices(rank: rank, limit: count(rank: rank))
    }

    /// The first `limit` entries of rank's shard.
    public func indices(rank: Int, limit: Int) -> [Int] {
        let n = min(limit, count(rank: rank))
        var out = [Int64](repeating: 0, count: n)
        out.withUnsafeMutableBufferPointer { fill(rank: rank, from: 0, into: $0) }
        return out.map { Int($0) }
    }

    /// Global sample ids left out by `.drop` (empty for the other policies), in order.
    public var dropped: [Int] {
        guard policy == .drop else { return [] }
        let m = remaining
        return ((m / world) * world..<m).map { permutation.sample(at: consumed + $0) }
    }

    /// Fills `out` with rank's entries at positions `from ..< from + out.count`.
    public func fill(rank: Int, from start: Int, into out: UnsafeMutableBufferPointer<Int64>) {
        precondition(start >= 0 && start + out.count <= count(rank: rank))
        let real = sampleCount(rank: rank)
        let realHere = max(0, min(out.count, real - start))
        if realHere > 0 {
            permutation.fill(UnsafeMutableBufferPointer(rebasing: out[0..<realHere]),
                             start: consumed + rank + start * world, stride: world)
        }
        for i in realHere..<out.count {
            out[i] = Int64(sample(rank: rank, position: start + i))
        }
    }

    /// `fill`, split over the machine's cores when the buffer is large (each position is
    /// independent, so the parts need no coordination).
    public func parallelFill(rank: Int, from start: Int, into out: UnsafeMutableBufferPointer<Int64>) {
        let threads = Swift.min(ProcessInfo.processInfo.activeProcessorCount, 16, out.count >> 16)
        if threads <= 1 {
            fill(rank: rank, from: start, into: out)
            return
        }
        nonisolated(unsafe) let base = out
        let per = (out.count + threads - 1) / threads
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lo = t * per, hi = Swift.min(base.count, lo + per)
            if lo < hi {
                fill(rank: rank, from: start + lo, into: UnsafeMutableBufferPointer(rebasing: base[lo..<hi]))
            }
        }
    }

    private func checkRank(_ rank: Int) {
        precondition(rank >= 0 && rank < world, "rank \(rank) outside 0..<\(world)")
    }

    /// True when rank's shard is the arithmetic progression consumed + rank + k * world.
    package func isRange(rank: Int) -> Bool { !shuffle && paddingCount(rank: rank) == 0 }

    // MARK: - plan.json

    package struct RankEntry: Codable, Equatable {
        var rank: Int
        var count: Int
        var padding: Int
    }

    package struct Description: Codable, Equatable {
        var kind = "samples"
        var algorithm: String
        var count: Int
        var world: Int
        var shuffle: Bool
        var seed: UInt64
        var epoch: Int
        var policy: ShardPolicy
        var consumed: Int
        var format: String
        var limit: Int?
        var ranks: [RankEntry]
        var dropped: [Int]?
    }

    /// The plan a DIR/plan.json written by `write(to:)` describes (a trainer can compare it
    /// with the epoch it expects before trusting BATON_SHARD_FILE).
    public init(planFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShardError(.unreadableFile, "cannot read \(path): it is missing or unreadable")
        }
        let d: Description
        do {
            d = try JSONDecoder().decode(Description.self, from: data)
        } catch {
            throw ShardError(.badShardFile, "\(path) is not a sample plan.json Baton can read: \(error)")
        }
        guard d.kind == "samples" else {
            throw ShardError(.badShardFile, "\(path) describes a \(d.kind) plan, not a samples plan")
        }
        try self.init(count: d.count, world: d.world, shuffle: d.shuffle, seed: d.seed, epoch: d.epoch,
                      policy: d.policy, consumed: d.consumed)
        if d.shuffle && d.algorithm != ShardPermutation.algorithm {
            throw ShardError(.badShardFile, "\(path) was shuffled with \(d.algorithm); this Baton knows \(ShardPermutation.algorithm)")
        }
    }

    package func planDescription(format: ShardFormat, limit: Int?) -> Description {
        Description(
            algorithm: shuffle ? ShardPermutation.algorithm : "identity",
            count: totalCount, world: world, shuffle: shuffle, seed: seed, epoch: epoch,
            policy: policy, consumed: consumed, format: format.rawValue, limit: limit,
            ranks: (0..<world).map { RankEntry(rank: $0, count: count(rank: $0), padding: paddingCount(rank: $0)) },
            dropped: policy == .drop ? dropped : nil)
    }
}
