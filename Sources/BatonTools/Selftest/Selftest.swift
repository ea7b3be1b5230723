import MPI

/// One checked call: `call` on `type` with `count` elements per rank.
public struct SelftestResult: Sendable {
    let call: String
    let type: String
    let count: Int
    /// nil when every rank agreed; otherwise what went wrong, naming the rank.
    let failure: String?
    public var passed: Bool { failure == nil }
}

/// Options of a selftest run.
public struct SelftestOptions: Sendable {
    /// Element counts per rank to check. The default covers empty, one, an odd count and
    /// 1 MiB of data (the count depends on the element size).
    public var counts: [SelftestCount]
    /// A call name (e.g. "allreduce(sum)") whose expected value the last rank changes,
    /// so the run must fail: a check of the checker.
    var injectFault: String?

    public init(counts: [SelftestCount] = SelftestCount.standard, injectFault: String? = nil) {
        self.counts = counts
        self.injectFault = injectFault
    }
}

/// A count of elements, either fixed or "this many bytes' worth".
public enum SelftestCount: Sendable, Equatable, CustomStringConvertible {
    case elements(Int)
    case bytes(Int)

    public static let standard: [SelftestCount] = [.elements(0), .elements(1), .elements(1001), .bytes(1 << 20)]

    func count(stride: Int) -> Int {
        switch self {
        case .elements(let n): return n
        case .bytes(let b): return b / stride
        }
    }

    public var description: String {
        switch self {
        case .elements(let n): return "\(n)"
        case .bytes(let b): return b == 1 << 20 ? "1 MiB" : "\(b) B"
        }
    }
}

/// Checks every point-to-point and collective call of the MPI bindings on `comm`
/// against values each rank computes locally. Every rank must call `run`; every rank
/// gets the same results (failures are gathered so all ranks know who failed where).
public final class Selftest {
    let comm: Communicator
    let options: SelftestOptions
    private let rank: Int
    private let size: Int
    private(set) public var results: [SelftestResult] = []
    /// Called after each result, on every rank (for progress).
    var onResult: ((SelftestResult) -> Void)?

    public init(comm: Communicator = .world, options: SelftestOptions = SelftestOptions()) {
        self.comm = comm
        self.options = options
        self.rank = comm.rank
        self.size = comm.size
    }

    /// The element types checked, in table order.
    static let typeNames = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float", "double"]

    public func run() -> [SelftestResult] {
        results = []
        runAll(Int8.self); runAll(Int16.self); runAll(Int32.self); runAll(Int64.self)
        runAll(UInt8.self); runAll(UInt16.self); runAll(UInt32.self); runAll(UInt64.self)
        runAll(Float.self); runAll(Double.self)
        return results
    }

    // MARK: values

    /// The value rank `r` holds at element `i` for a check salted with `salt`: small
    /// (sums over a dozen ranks fit in Int8), negative too for signed types.
    private func value<T: CheckableScalar>(_: T.Type, rank r: Int, index i: Int, salt: Int) -> T {
        let v = (r &* 7 &+ i &* 13 &+ salt) % 11 + 1  // 1...11
        switch T.scalarKind {
        case .unsignedInteger: return T(small: v)
        case .signedInteger, .floatingPoint: return T(small: v - 6)
        }
    }

    /// Values for a reduction with `op`: products use 1 and 2 only (exact in floating
    /// point in any order), logical operations mix zeros in.
    private func reductionValue<T: CheckableScalar>(_: T.Type, op: ReductionOp, rank r: Int, index i: Int) -> T {
        switch op {
        case .product: return T(small: 1 + (r &+ i) % 2)
        case .logicalAnd, .logicalOr: return T(small: (r &+ i) % 3 == 0 ? 0 : (r &+ i) % 3)
        default: return value(T.self, rank: r, index: i, salt: op.name.utf8.count)
        }
    }

    /// Every value above depends on the index only modulo 2, 3 or 11, so buffers are
    /// tiled from one period of 66 elements: memcpy-speed even in a debug build, where
    /// a per-element generic loop over 1 MiB took minutes.
    static let period = 66

    private func tile<T: CheckableScalar>(count: Int, offset: Int = 0, _ element: (Int) -> T) -> [T] {
        var out: [T] = (0..<Swift.min(count, Self.period)).map { element(offset + $0) }
        out.reserveCapacity(count)
        while out.count < count {
            out.append(contentsOf: out.prefix(count - out.count))
        }
        return out
    }

    private func filled<T: CheckableScalar>(_: T.Type, count: Int, rank r: Int, salt: Int) -> [T] {
        tile(count: count) { value(T.self, rank: r, index: $0, salt: salt) }
    }

    // MARK: running one check

    /// Runs `body` (which returns this rank's mismatch, if any), applies fault
    /// injection, and agrees across ranks on the outcome.
    private func check<T: CheckableScalar>(
        _ call: String, _: T.Type, count: Int, _ body: () throws -> (expected: [T], got: [T])?
    ) {
        var failure: String?
        do {
            if var pair = try body() {
                if call == options.injectFault, rank == size - 1, !pair.expected.isEmpty {
                    pair.expected[pair.expected.count / 2] = T.combine(pair.expected[pair.expected.count / 2], T(small: 1), .sum)
                }
                if let m = firstMismatch(expected: pair.expected, got: pair.got) {
                    failure = "rank \(rank): first wrong element \(m.index): expected \(m.expected), got \(m.got)"
                }
            }
        } catch {
            failure = "rank \(rank): \(error)"
        }
        let agreed = agree(failure)
        let result = SelftestResult(call: call, type: T.mpiDatatype.name, count: count, failure: agreed)
        results.append(result)
        onResult?(result)
    }

    /// Every rank learns whether any failed, and the messages of those that did.
    private func agree(_ local: String?) -> String? {
        let anyFailed: Int32
        do {
            anyFailed = try comm.allReduce(local == nil ? 0 : 1, op: .max)
        } catch {
            return "rank \(rank): could not agree on the result: \(error)"
        }
        guard anyFailed != 0 else { return nil }
        // 240 bytes of message per rank, gathered everywhere.
        let width = 240
        var mine = [UInt8](repeating: 0, count: width)
        for (i, b) in (local ?? "").utf8.prefix(width).enumerated() { mine[i] = b }
        var all = [UInt8](repeating: 0, count: width * size)
        do { try comm.allGather(mine, into: &all) } catch { return local ?? "another rank failed: \(error)" }
        var messages: [String] = []
        for r in 0..<size {
            let bytes = all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }
            if !bytes.isEmpty { messages.append(String(decoding: bytes, as: UTF8.self)) }
        }
        return messages.joined(separator: "; ")
    }

    // MARK: the checks

    private func runAll<T: CheckableScalar>(_ type: T.Type) {
        for c in options.counts {
            let n = c.count(stride: MemoryLayout<T>.stride)
            pointToPoint(T.self, count: n)
            collectives(T.self, count: n)
            for op in ReductionOp.all where op.isDefined(for: T.scalarKind) {
                reductions(T.self, op: op, count: n)
            }
        }
    }

    private func pointToPoint<T: CheckableScalar>(_: T.Type, count n: Int) {
        let next = (rank + 1) % size, prev = (rank - 1 + size) % size

        check("send/recv", T.self, count: n) {
            let mine = filled(T.self, count: n, rank: rank, salt: 1)
            var got = [T](repeating: T(small: 0), count: n)
            if size == 1 {
                // A blocking send to oneself can wait forever for the matching receive.
                let request = try comm.isend(MessageBuffer(mine), to: 0, tag: 11)
                try comm.receive(into: &got, from: 0, tag: 11)
                try request.wait()
            } else if rank % 2 == 0 {
                // Even ranks send first and odd ranks receive first, so the ring never
                // waits in a cycle, whatever the rank count.
                try comm.send(mine, to: next, tag: 11)
                try comm.receive(into: &got, from: .rank(prev), tag: 11)
            } else {
                try comm.receive(into: &got, from: .rank(prev), tag: 11)
                try comm.send(mine, to: next, tag: 11)
            }
            return (filled(T.self, count: n, rank: prev, salt: 1), got)
        }

        check("sendrecv", T.self, count: n) {
            let mine = filled(T.self, count: n, rank: rank, salt: 2)
            var got = [T](repeating: T(small: 0), count: n)
            let status = try comm.sendReceive(mine, to: next, sendTag: 12, into: &got, from: .rank(prev), receiveTag: 12)
            if status.source != prev || status.count != n {
                throw SelftestProblem("status says source \(status.source), count \(status.count); expected \(prev), \(n)")
            }
            return (filled(T.self, count: n, rank: prev, salt: 2), got)
        }

        check("probe", T.self, count: n) {
            let request = try comm.isend(MessageBuffer(filled(T.self, count: n, rank: rank, salt: 3)), to: next, tag: 13)
            let status = try comm.probe(T.self, from: .any, tag: 13)
            var got = [T](repeating: T(small: 0), count: status.count)
            try comm.receive(into: &got, from: .rank(status.source), tag: 13)
            try request.wait()
            if status.source != prev || status.count != n || status.tag != 13 {
                throw SelftestProblem("probe saw source \(status.source), tag \(status.tag), count \(status.count); expected \(prev), 13, \(n)")
            }
            return (filled(T.self, count: n, rank: prev, salt: 3), got)
        }

        check("isend/irecv", T.self, count: n) {
            let inbox = MessageBuffer<T>(repeating: T(small: 0), count: n)
            var receive = try comm.irecv(into: inbox, from: .rank(prev), tag: 14)
            var group = RequestGroup(capacity: 2)
            group.add(try comm.isend(MessageBuffer(filled(T.self, count: n, rank: rank, salt: 4)), to: next, tag: 14))
            // Poll the receive with test() (bounded by the send completing below).
            try group.waitAll()
            var status = try receive.test()
            var polls = 0
            while status == nil, polls < 10_000_000 {
                status = try receive.test()
                polls += 1
            }
            let final = try receive.wait()
            if final.source != prev || final.count != n {
                throw SelftestProblem("status says source \(final.source), count \(final.count); expected \(prev), \(n)")
            }
            return (filled(T.self, count: n, rank: prev, salt: 4), inbox.array)
        }
    }

    private func collectives<T: CheckableScalar>(_: T.Type, count n: Int) {
        check("barrier", T.self, count: n) {
            try comm.barrier()
            return nil
        }

        check("bcast", T.self, count: n) {
            let root = size - 1
            var buffer = rank == root ? filled(T.self, count: n, rank: root, salt: 5) : [T](repeating: T(small: 99), count: n)
            try comm.broadcast(&buffer, root: root)
            return (filled(T.self, count: n, rank: root, salt: 5), buffer)
        }

        check("gather", T.self, count: n) {
            let root = 0
            var all = [T](repeating: T(small: 0), count: rank == root ? n * size : 0)
            try comm.gather(filled(T.self, count: n, rank: rank, salt: 6), into: &all, root: root)
            guard rank == root else { return nil }
            return ((0..<size).flatMap { filled(T.self, count: n, rank: $0, salt: 6) }, all)
        }

        check("scatter", T.self, count: n) {
            let root = 0
            let source = rank == root ? (0..<size).flatMap { filled(T.self, count: n, rank: $0, salt: 7) } : []
            var mine = [T](repeating: T(small: 0), count: n)
            try comm.scatter(source, into: &mine, root: root)
            return (filled(T.self, count: n, rank: rank, salt: 7), mine)
        }

        check("allgather", T.self, count: n) {
            var all = [T](repeating: T(small: 0), count: n * size)
            try comm.allGather(filled(T.self, count: n, rank: rank, salt: 8), into: &all)
            return ((0..<size).flatMap { filled(T.self, count: n, rank: $0, salt: 8) }, all)
        }

        check("allgatherv", T.self, count: n) {
            // Rank r contributes n + r elements: uneven on purpose.
            let counts = (0..<size).map { n + $0 }
            var all = [T](repeating: T(small: 0), count: counts.reduce(0, +))
            try comm.allGatherV(filled(T.self, count: counts[rank], rank: rank, salt: 9), into: &all, counts: counts)
            return ((0..<size).flatMap { filled(T.self, count: counts[$0], rank: $0, salt: 9) }, all)
        }

        check("alltoall", T.self, count: n) {
            // Block j of rank i's send buffer is what rank i sends rank j: salted by j.
            let send = (0..<size).flatMap { j in filled(T.self, count: n, rank: rank, salt: 10 + j) }
            var got = [T](repeating: T(small: 0), count: n * size)
            try comm.allToAll(send, into: &got)
            return ((0..<size).flatMap { i in filled(T.self, count: n, rank: i, salt: 10 + rank) }, got)
        }
    }

    private func reductions<T: CheckableScalar>(_: T.Type, op: ReductionOp, count n: Int) {
        let reduced: (Int) -> T = { i in
            (1..<self.size).reduce(self.reductionValue(T.self, op: op, rank: 0, index: i)) { acc, r in
                T.combine(acc, self.reductionValue(T.self, op: op, rank: r, index: i), op)
            }
        }
        let expected: [T] = tile(count: n, reduced)
        let mine: [T] = tile(count: n) { reductionValue(T.self, op: op, rank: rank, index: $0) }

        check("allreduce(\(op))", T.self, count: n) {
            var out = [T](repeating: T(small: 0), count: n)
            try comm.allReduce(mine, into: &out, op: op)
            return (expected, out)
        }
        check("allreduce(\(op), in place)", T.self, count: n) {
            var buffer = mine
            try comm.allReduce(&buffer, op: op)
            return (expected, buffer)
        }
        check("reduce(\(op))", T.self, count: n) {
            let root = size / 2
            var out = [T](repeating: T(small: 0), count: n)
            try comm.reduce(mine, into: &out, op: op, root: root)
            return rank == root ? (expected, out) : nil
        }
        guard op == .sum || op == .max else { return }
        check("reduce(\(op), in place)", T.self, count: n) {
            var buffer = mine
            try comm.reduce(&buffer, op: op, root: 0)
            return rank == 0 ? (expected, buffer) : nil
        }
        check("reduce_scatter_block(\(op))", T.self, count: n) {
            // Each rank reduces size x n elements; rank r keeps block r of the result.
            let wide: [T] = tile(count: n * size) { reductionValue(T.self, op: op, rank: rank, index: $0) }
            var out = [T](repeating: T(small: 0), count: n)
            try comm.reduceScatterBlock(wide, into: &out, op: op)
            return (tile(count: n, offset: rank * n, reduced), out)
        }
    }
}

struct SelftestProblem: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
