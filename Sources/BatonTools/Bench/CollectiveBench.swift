import MPI

/// The collectives Baton times, with nccl-tests' byte counts and bus-bandwidth factors
/// (nccl-tests doc/PERFORMANCE.md).
public enum CollectiveKind: String, Sendable, CaseIterable {
    case allreduce, allgather, reducescatter, alltoall, bcast, barrier

    /// busbw / algbw: what each rank's link must carry relative to the bytes counted in
    /// algbw, so figures compare across rank counts. allreduce 2(n-1)/n; allgather,
    /// reducescatter and alltoall (n-1)/n; bcast 1; barrier has no data.
    func busBandwidthFactor(ranks n: Int) -> Double {
        guard n > 0 else { return 0 }
        switch self {
        case .allreduce: return 2.0 * Double(n - 1) / Double(n)
        case .allgather, .reducescatter, .alltoall: return Double(n - 1) / Double(n)
        case .bcast: return 1
        case .barrier: return 0
        }
    }

    /// Whether a size means the whole array (gathered, scattered, exchanged), which is
    /// split into one block per rank, rather than each rank's buffer.
    var sizeIsWholeArray: Bool { self == .allgather || self == .reducescatter || self == .alltoall }

    /// Whether MPI has a separate in-place form worth timing.
    var hasInPlaceForm: Bool { self != .bcast && self != .barrier }
}

/// How many elements a run at a requested size moves.
struct CollectiveShape: Sendable, Equatable {
    /// Elements per rank's block (for allreduce and bcast: the whole buffer).
    var blockCount: Int
    /// Elements in the whole array: n x block for the gathering kinds, else the block.
    var totalCount: Int
    /// Bytes counted in algbw (nccl-tests: the per-rank buffer for allreduce and bcast,
    /// the whole array for allgather, reducescatter and alltoall).
    var bytes: Int

    /// The shape for a requested size in bytes, rounded down to whole elements and whole
    /// blocks as nccl-tests does, but never below one element per block.
    static func of(_ kind: CollectiveKind, sizeBytes: Int, ranks: Int, elementSize: Int) -> CollectiveShape {
        switch kind {
        case .barrier:
            return CollectiveShape(blockCount: 0, totalCount: 0, bytes: 0)
        case .allreduce, .bcast:
            let count = max(1, sizeBytes / elementSize)
            return CollectiveShape(blockCount: count, totalCount: count, bytes: count * elementSize)
        case .allgather, .reducescatter, .alltoall:
            let block = max(1, sizeBytes / elementSize / ranks)
            return CollectiveShape(blockCount: block, totalCount: block * ranks, bytes: block * ranks * elementSize)
        }
    }
}

public struct CollectiveOptions: Sendable {
    var kind: CollectiveKind
    var sizes: [Int]
    var iterations: Int?
    var warmup: Int?
    /// Test-only: rank n-1 (the root for bcast) corrupts one input element before the
    /// correctness pass, so `wrong` must come out non-zero.
    var injectCorruption: Bool

    public init(kind: CollectiveKind, sizes: [Int], iterations: Int? = nil, warmup: Int? = nil, injectCorruption: Bool = false) {
        self.kind = kind
        self.sizes = sizes
        self.iterations = iterations
        self.warmup = warmup
        self.injectCorruption = injectCorruption
    }

    func validate() throws(BenchError) {
        if let iterations, iterations < 1 { throw BenchError(.badOption, "--iters must be at least 1, got \(iterations)") }
        if let warmup, warmup < 0 { throw BenchError(.badOption, "--warmup must be 0 or more, got \(warmup)") }
        guard !sizes.isEmpty else { throw BenchError(.badOption, "no message sizes between --min-size and --max-size") }
    }
}

/// One size and placement. Times in µs (per call, each rank's mean, then min/avg/max
/// over ranks); bandwidths in GB/s (1e9 bytes/s) from the average time.
public struct CollectiveRow: Sendable, Equatable {
    var sizeBytes: Int
    var count: Int
    var inPlace: Bool
    var iterations: Int
    var timeMinMicroseconds: Double
    var timeMicroseconds: Double
    var timeMaxMicroseconds: Double
    var algorithmBandwidthGBps: Double
    var busBandwidthGBps: Double
    /// Elements that differed from the expected result, summed over ranks.
    var wrong: Int

    init(
        sizeBytes: Int, count: Int, inPlace: Bool, iterations: Int, timeMinMicroseconds: Double, timeMicroseconds: Double,
        timeMaxMicroseconds: Double, algorithmBandwidthGBps: Double, busBandwidthGBps: Double, wrong: Int
    ) {
        self.sizeBytes = sizeBytes
        self.count = count
        self.inPlace = inPlace
        self.iterations = iterations
        self.timeMinMicroseconds = timeMinMicroseconds
        self.timeMicroseconds = timeMicroseconds
        self.timeMaxMicroseconds = timeMaxMicroseconds
        self.algorithmBandwidthGBps = algorithmBandwidthGBps
        self.busBandwidthGBps = busBandwidthGBps
        self.wrong = wrong
    }

    /// algbw and busbw from the bytes counted and the average time, nccl-tests' way.
    static func bandwidths(kind: CollectiveKind, ranks: Int, bytes: Int, timeMicroseconds: Double) -> (algbw: Double, busbw: Double) {
        guard timeMicroseconds > 0, bytes > 0 else { return (0, 0) }
        let algbw = Double(bytes) / (timeMicroseconds * 1e-6) / 1e9
        return (algbw, algbw * kind.busBandwidthFactor(ranks: ranks))
    }
}

public struct CollectiveResult: Sendable {
    var kind: CollectiveKind
    var ranks: Int
    public var rows: [CollectiveRow]

    /// The mean busbw over every row (both placements), as nccl-tests' footer prints it.
    var averageBusBandwidthGBps: Double {
        let measured = rows.filter { $0.sizeBytes > 0 }
        guard !measured.isEmpty else { return 0 }
        return measured.map(\.busBandwidthGBps).reduce(0, +) / Double(measured.count)
    }

    var totalWrong: Int { rows.map(\.wrong).reduce(0, +) }
}

public enum CollectiveBench {
    /// The element type: 32-bit floats summed, as nccl-tests defaults to (`-d float -o sum`).
    typealias Element = Float
    static let elementSize = MemoryLayout<Element>.stride

    /// The correctness pattern: small integers, so float sums over ranks are exact.
    @inline(__always)
    static func pattern(rank: Int, index: Int) -> Element {
        Element(rank + 1 + index % 251)
    }

    public static func run(_ options: CollectiveOptions, on comm: Communicator) throws -> CollectiveResult {
        try options.validate()
        let ranks = comm.size
        let rank = comm.rank
        let kind = options.kind
        // One shape per distinct size: small requests for the gathering kinds round up
        // to one element per rank and would otherwise repeat.
        var shapes: [(requested: Int, shape: CollectiveShape)] = []
        for size in options.sizes {
            let shape = CollectiveShape.of(kind, sizeBytes: size, ranks: ranks, elementSize: elementSize)
            if kind == .barrier {
                if shapes.isEmpty { shapes.append((size, shape)) }
            } else if shapes.last?.shape != shape {
                shapes.append((size, shape))
            }
        }
        let capacity = max(1, shapes.map(\.shape.totalCount).max() ?? 1)
        let send = UnsafeMutableBufferPointer<Element>.allocate(capacity: capacity)
        let receive = UnsafeMutableBufferPointer<Element>.allocate(capacity: capacity)
        defer {
            send.deallocate()
            receive.deallocate()
        }
        send.initialize(repeating: 0)
        receive.initialize(repeating: 0)

        var rows: [CollectiveRow] = []
        for (_, shape) in shapes {
            let plan = IterationPlan.resolve(.collective, size: shape.bytes, iterations: options.iterations, warmup: options.warmup)
            let placements: [Bool] = kind.hasInPlaceForm ? [false, true] : [kind == .bcast]
            for inPlace in placements {
                // Timing buffers hold zeros, so repeated in-place sums stay finite.
                _ = send.update(repeating: 0)
                _ = receive.update(repeating: 0)
                let perRankMean = try time(kind, shape: shape, inPlace: inPlace, plan: plan, send: send, receive: receive, comm: comm)
                let stats = [
                    try comm.allReduce(perRankMean, op: .min) * 1e6,
                    try comm.allReduce(perRankMean, op: .sum) / Double(ranks) * 1e6,
                    try comm.allReduce(perRankMean, op: .max) * 1e6,
                ]
                let localWrong = try check(
                    kind, shape: shape, inPlace: inPlace, send: send, receive: receive, comm: comm, rank: rank, ranks: ranks,
                    corrupt: options.injectCorruption)
                let wrong = try comm.allReduce(localWrong, op: .sum)
                let bw = CollectiveRow.bandwidths(kind: kind, ranks: ranks, bytes: shape.bytes, timeMicroseconds: stats[1])
                rows.append(
                    CollectiveRow(
                        sizeBytes: shape.bytes, count: shape.totalCount, inPlace: inPlace, iterations: plan.iterations,
                        timeMinMicroseconds: stats[0], timeMicroseconds: stats[1], timeMaxMicroseconds: stats[2],
                        algorithmBandwidthGBps: bw.algbw, busBandwidthGBps: bw.busbw, wrong: wrong))
            }
        }
        return CollectiveResult(kind: kind, ranks: ranks, rows: rows)
    }

    /// Mean seconds per call on this rank, OSU's way: each call timed on its own, the
    /// barrier after it outside the timing, warm-up calls not counted.
    static func time(
        _ kind: CollectiveKind, shape: CollectiveShape, inPlace: Bool, plan: IterationPlan,
        send: UnsafeMutableBufferPointer<Element>, receive: UnsafeMutableBufferPointer<Element>, comm: Communicator
    ) throws(MPIError) -> Double {
        var s = UnsafeMutableBufferPointer(rebasing: send[0..<shape.totalCount])
        var r = UnsafeMutableBufferPointer(rebasing: receive[0..<shape.totalCount])
        let block = UnsafeMutableBufferPointer(rebasing: send[0..<shape.blockCount])
        let sum = ReductionOp.sum
        switch (kind, inPlace) {
        case (.allreduce, false): return try timed(plan, comm) { () throws(MPIError) in try comm.allReduce(s, into: &r, op: sum) }
        case (.allreduce, true): return try timed(plan, comm) { () throws(MPIError) in try comm.allReduce(&r, op: sum) }
        case (.allgather, false): return try timed(plan, comm) { () throws(MPIError) in try comm.allGather(block, into: &r) }
        case (.allgather, true): return try timed(plan, comm) { () throws(MPIError) in try comm.allGather(inPlace: &r) }
        case (.reducescatter, false):
            var out = UnsafeMutableBufferPointer(rebasing: receive[0..<shape.blockCount])
            return try timed(plan, comm) { () throws(MPIError) in try comm.reduceScatterBlock(s, into: &out, op: sum) }
        case (.reducescatter, true): return try timed(plan, comm) { () throws(MPIError) in try comm.reduceScatterBlock(inPlace: &r, op: sum) }
        case (.alltoall, false): return try timed(plan, comm) { () throws(MPIError) in try comm.allToAll(s, into: &r) }
        case (.alltoall, true): return try timed(plan, comm) { () throws(MPIError) in try comm.allToAll(inPlace: &r) }
        case (.bcast, _): return try timed(plan, comm) { () throws(MPIError) in try comm.broadcast(&s, root: 0) }
        case (.barrier, _): return try timed(plan, comm) { () throws(MPIError) in try comm.barrier() }
        }
    }

    @inline(__always)
    static func timed(_ plan: IterationPlan, _ comm: Communicator, _ call: () throws(MPIError) -> Void) throws(MPIError) -> Double {
        var total = 0.0
        for i in 0..<(plan.warmup + plan.iterations) {
            let start = MPIEnvironment.wallTime()
            try call()
            let stop = MPIEnvironment.wallTime()
            if i >= plan.warmup { total += stop - start }
            try comm.barrier()
        }
        return total / Double(plan.iterations)
    }

    /// One call with the rank-and-index pattern, then counts this rank's wrong elements.
    static func check(
        _ kind: CollectiveKind, shape: CollectiveShape, inPlace: Bool,
        send: UnsafeMutableBufferPointer<Element>, receive: UnsafeMutableBufferPointer<Element>,
        comm: Communicator, rank: Int, ranks: Int, corrupt: Bool
    ) throws(MPIError) -> Int {
        let total = shape.totalCount
        let block = shape.blockCount
        var s = UnsafeMutableBufferPointer(rebasing: send[0..<total])
        var r = UnsafeMutableBufferPointer(rebasing: receive[0..<total])
        _ = r.update(repeating: -1)
        let corruptRank = kind == .bcast ? 0 : ranks - 1
        let corruptHere = corrupt && rank == corruptRank
        var wrong = 0
        switch kind {
        case .barrier:
            try comm.barrier()
        case .allreduce:
            for i in 0..<total { s[i] = pattern(rank: rank, index: i) }
            if corruptHere { s[0] += 1 }
            if inPlace {
                _ = r.update(fromContentsOf: s)
                try comm.allReduce(&r, op: .sum)
            } else {
                try comm.allReduce(s, into: &r, op: .sum)
            }
            for i in 0..<total {
                var expected: Element = 0
                for q in 0..<ranks { expected += pattern(rank: q, index: i) }
                if r[i] != expected { wrong += 1 }
            }
        case .allgather:
            // Rank q's block j-th element is pattern(q, j).
            if inPlace {
                for j in 0..<block { r[rank * block + j] = pattern(rank: rank, index: j) }
                if corruptHere { r[rank * block] += 1 }
                try comm.allGather(inPlace: &r)
            } else {
                for j in 0..<block { s[j] = pattern(rank: rank, index: j) }
                if corruptHere { s[0] += 1 }
                try comm.allGather(UnsafeMutableBufferPointer(rebasing: s[0..<block]), into: &r)
            }
            for q in 0..<ranks {
                for j in 0..<block where r[q * block + j] != pattern(rank: q, index: j) { wrong += 1 }
            }
        case .reducescatter:
            // Input element k on rank q is pattern(q, k); rank r gets the sums of block r.
            let input = inPlace ? r : s
            for k in 0..<total { input[k] = pattern(rank: rank, index: k) }
            if corruptHere { input[0] += 1 }
            if inPlace {
                try comm.reduceScatterBlock(inPlace: &r, op: .sum)
            } else {
                var out = UnsafeMutableBufferPointer(rebasing: receive[0..<block])
                try comm.reduceScatterBlock(s, into: &out, op: .sum)
            }
            for j in 0..<block {
                var expected: Element = 0
                for q in 0..<ranks { expected += pattern(rank: q, index: rank * block + j) }
                if r[j] != expected { wrong += 1 }
            }
        case .alltoall:
            // Rank q's element k goes to rank k / block; here block q holds q's block `rank`.
            let input = inPlace ? r : s
            for k in 0..<total { input[k] = pattern(rank: rank, index: k) }
            if corruptHere { input[0] += 1 }
            if inPlace {
                try comm.allToAll(inPlace: &r)
            } else {
                try comm.allToAll(s, into: &r)
            }
            for q in 0..<ranks {
                for j in 0..<block where r[q * block + j] != pattern(rank: q, index: rank * block + j) { wrong += 1 }
            }
        case .bcast:
            for i in 0..<total { s[i] = rank == 0 ? pattern(rank: 0, index: i) : -1 }
            if corruptHere { s[0] += 1 }
            try comm.broadcast(&s, root: 0)
            for i in 0..<total where s[i] != pattern(rank: 0, index: i) { wrong += 1 }
        }
        return wrong
    }
}
