import BatonTrainer
import Foundation

/// Whole files per rank, balanced by bytes with longest-processing-time first: files in
/// decreasing size (ties: the order given) each go to the rank with the fewest bytes so far
/// (ties: the lowest rank). Deterministic for a given list; a rank lists its files in the
/// order they were given.
public struct FileShardPlan: Sendable {
    public struct Rank: Codable, Sendable, Equatable {
        var rank: Int
        public var bytes: Int
        public var files: [String]
    }

    let world: Int
    public let ranks: [Rank]
    public let totalBytes: Int
    let inputs: [InputFile]

    /// Throws when a file is missing or unreadable, or there are fewer files than ranks and
    /// `allowEmpty` is false (those ranks would get nothing to read).
    public init(paths: [String], world: Int, allowEmpty: Bool = false) throws {
        try self.init(sources: paths.map { ($0, nil) }, world: world, allowEmpty: allowEmpty)
    }

    /// As `init(paths:...)`, with where each path was named ("list.txt:3") for messages.
    public init(sources: [(path: String, origin: String?)], world: Int, allowEmpty: Bool = false) throws {
        guard world >= 1 && world <= SampleShardPlan.maximumWorld else {
            throw ShardError(.badArgument, "world size is \(world); it must be between 1 and \(SampleShardPlan.maximumWorld)")
        }
        let inputs = try ShardInputs.resolve(sources)
        if inputs.count < world && !allowEmpty {
            throw ShardError(.tooFewFiles, "\(inputs.count) file\(inputs.count == 1 ? "" : "s") for \(world) ranks: \(world - inputs.count) rank\(world - inputs.count == 1 ? "" : "s") would get nothing; give at least \(world) files, split them with 'baton shard bytes', or pass --allow-empty")
        }
        let order = inputs.indices.sorted { a, b in
            inputs[a].size != inputs[b].size ? inputs[a].size > inputs[b].size : a < b
        }
        var heap = RankHeap(world: world)
        var assigned = [[Int]](repeating: [], count: world)
        var bytes = [Int](repeating: 0, count: world)
        for i in order {
            let r = heap.popLightest()
            assigned[r].append(i)
            bytes[r] += inputs[i].size
            heap.push(rank: r, bytes: bytes[r])
        }
        self.world = world
        self.inputs = inputs
        self.totalBytes = inputs.reduce(0) { $0 + $1.size }
        self.ranks = (0..<world).map { r in
            Rank(rank: r, bytes: bytes[r], files: assigned[r].sorted().map { inputs[$0].path })
        }
    }

    struct Description: Codable {
        var kind = "files"
        var world: Int
        var totalBytes: Int
        var fileCount: Int
        var ranks: [Rank]
        enum CodingKeys: String, CodingKey {
            case kind, world, ranks
            case totalBytes = "total_bytes"
            case fileCount = "file_count"
        }
    }

    /// Writes DIR/plan.json (every rank's files and byte total) and DIR/rank-<r>.json
    /// ({"rank", "bytes", "files"}) for each rank. Throws before writing when DIR holds
    /// another plan.
    public func write(to directory: String) throws {
        let data = try PlanDirectory.encode(Description(world: world, totalBytes: totalBytes, fileCount: inputs.count, ranks: ranks))
        try PlanDirectory.check(directory, plan: data)
        try PlanDirectory.create(directory)
        for rank in ranks {
            let file = try AtomicOutputFile(path: directory + "/rank-\(rank.rank).json")
            try file.write([UInt8](try PlanDirectory.encode(rank)))
            try file.commit()
        }
        try PlanDirectory.writePlan(data, to: directory)
    }
}

/// A binary min-heap of (bytes, rank): the lightest rank, lowest rank number on ties.
struct RankHeap {
    private var items: [(bytes: Int, rank: Int)]

    init(world: Int) { items = (0..<world).map { (0, $0) } }  // already a valid heap

    private static func less(_ a: (bytes: Int, rank: Int), _ b: (bytes: Int, rank: Int)) -> Bool {
        a.bytes != b.bytes ? a.bytes < b.bytes : a.rank < b.rank
    }

    mutating func popLightest() -> Int {
        let top = items[0].rank
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && Self.less(items[l], items[m]) { m = l }
                if r < items.count && Self.less(items[r], items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }

    mutating func push(rank: Int, bytes: Int) {
        items.append((bytes, rank))
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !Self.less(items[i], items[p]) { break }
            items.swapAt(i, p)
            i = p
        }
    }
}
