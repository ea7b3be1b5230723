import MPI

/// The OSU point-to-point tests between ranks 0 and 1.
public enum PointToPointTest: String, Sendable, CaseIterable {
    /// Blocking ping-pong; latency is half the round trip (osu_latency).
    case latency
    /// A window of non-blocking sends, `MPI_Waitall`, then a small ack (osu_bw).
    case bandwidth = "bw"
    /// Both ranks send a window to each other at once (osu_bibw).
    case bidirectional = "bibw"

    var family: IterationPlan.Family { self == .latency ? .latency : .bandwidth }

    /// OSU's default first size: 0 B for latency, 1 B for bandwidth.
    public var defaultMinimumSize: Int { self == .latency ? 0 : 1 }
}

public struct PointToPointOptions: Sendable {
    var test: PointToPointTest
    var sizes: [Int]
    var iterations: Int?
    var warmup: Int?
    /// Sends in flight per iteration for bw and bibw (OSU's default window is 64).
    var window: Int

    public init(test: PointToPointTest, sizes: [Int], iterations: Int? = nil, warmup: Int? = nil, window: Int = 64) {
        self.test = test
        self.sizes = sizes
        self.iterations = iterations
        self.warmup = warmup
        self.window = window
    }

    func validate(ranks: Int) throws(BenchError) {
        guard ranks >= 2 else {
            throw BenchError(.wrongWorld, "\(test.rawValue) runs between ranks 0 and 1; start it with at least 2 ranks (mpirun -np 2 baton bench \(test.rawValue))")
        }
        guard window >= 1 else { throw BenchError(.badOption, "--window must be at least 1, got \(window)") }
        if let iterations, iterations < 1 { throw BenchError(.badOption, "--iters must be at least 1, got \(iterations)") }
        if let warmup, warmup < 0 { throw BenchError(.badOption, "--warmup must be 0 or more, got \(warmup)") }
        guard !sizes.isEmpty else { throw BenchError(.badOption, "no message sizes between --min-size and --max-size") }
    }
}

/// One size's result. Latency in microseconds; bandwidth in GB/s with GB = 1e9 bytes.
public struct PointToPointRow: Sendable, Equatable {
    var sizeBytes: Int
    var iterations: Int
    var latencyMicroseconds: Double?
    var bandwidthGBps: Double?

    init(sizeBytes: Int, iterations: Int, latencyMicroseconds: Double? = nil, bandwidthGBps: Double? = nil) {
        self.sizeBytes = sizeBytes
        self.iterations = iterations
        self.latencyMicroseconds = latencyMicroseconds
        self.bandwidthGBps = bandwidthGBps
    }
}

public struct PointToPointResult: Sendable {
    var test: PointToPointTest
    var ranks: Int
    var window: Int
    public var rows: [PointToPointRow]
}

public enum PointToPointBench {
    /// Latency in µs from a timed ping-pong: half the round trip, averaged.
    static func latencyMicroseconds(seconds: Double, iterations: Int) -> Double {
        seconds * 1e6 / (2.0 * Double(iterations))
    }

    /// Bandwidth in GB/s (1e9) for `iterations` windows of `window` messages of `size`
    /// bytes in `seconds`; `directions` is 2 for bibw, which counts both ways.
    static func bandwidthGBps(size: Int, iterations: Int, window: Int, seconds: Double, directions: Int = 1) -> Double {
        guard seconds > 0 else { return 0 }
        return Double(size) * Double(iterations) * Double(window) * Double(directions) / seconds / 1e9
    }

    /// Runs the test between ranks 0 and 1 of `comm`; other ranks only join the
    /// barriers. Every rank returns the rows (rank 0's measurements, broadcast).
    public static func run(_ options: PointToPointOptions, on comm: Communicator) throws -> PointToPointResult {
        let ranks = comm.size
        try options.validate(ranks: ranks)
        let rank = comm.rank
        var rows: [PointToPointRow] = []
        for size in options.sizes {
            let plan = IterationPlan.resolve(options.test.family, size: size, iterations: options.iterations, warmup: options.warmup)
            try comm.barrier()
            var value = 0.0
            if rank < 2 {
                switch options.test {
                case .latency:
                    let seconds = try pingPong(size: size, plan: plan, rank: rank, comm: comm)
                    value = latencyMicroseconds(seconds: seconds, iterations: plan.iterations)
                case .bandwidth:
                    let seconds = try windowed(size: size, plan: plan, window: options.window, rank: rank, comm: comm)
                    value = bandwidthGBps(size: size, iterations: plan.iterations, window: options.window, seconds: seconds)
                case .bidirectional:
                    let seconds = try bidirectional(size: size, plan: plan, window: options.window, rank: rank, comm: comm)
                    value = bandwidthGBps(size: size, iterations: plan.iterations, window: options.window, seconds: seconds, directions: 2)
                }
            }
            value = try broadcastValue(value, comm: comm)
            rows.append(
                options.test == .latency
                    ? PointToPointRow(sizeBytes: size, iterations: plan.iterations, latencyMicroseconds: value)
                    : PointToPointRow(sizeBytes: size, iterations: plan.iterations, bandwidthGBps: value))
        }
        return PointToPointResult(test: options.test, ranks: ranks, window: options.window, rows: rows)
    }

    static func broadcastValue(_ value: Double, comm: Communicator) throws(MPIError) -> Double {
        var box = [value]
        try comm.broadcast(&box, root: 0)
        return box[0]
    }

    /// osu_latency: rank 0 sends and waits for the echo; the timer starts after the
    /// warm-up. Separate send and receive buffers, as OSU has.
    static func pingPong(size: Int, plan: IterationPlan, rank: Int, comm: Communicator) throws(MPIError) -> Double {
        let send = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(size, 1))
        let receive = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(size, 1))
        defer {
            send.deallocate()
            receive.deallocate()
        }
        send.initialize(repeating: 0x61)
        receive.initialize(repeating: 0x62)
        let outgoing = UnsafeMutableBufferPointer(rebasing: send[0..<size])
        var incoming = UnsafeMutableBufferPointer(rebasing: receive[0..<size])
        let peer = 1 - rank
        let from = Source.rank(peer)
        let tag = Tag.value(1)
        var start = 0.0
        let total = plan.iterations + plan.warmup
        if rank == 0 {
            for i in 0..<total {
                if i == plan.warmup { start = MPIEnvironment.wallTime() }
                try comm.send(outgoing, to: peer, tag: 1)
                try comm.receive(into: &incoming, from: from, tag: tag)
            }
        } else {
            for i in 0..<total {
                if i == plan.warmup { start = MPIEnvironment.wallTime() }
                try comm.receive(into: &incoming, from: from, tag: tag)
                try comm.send(outgoing, to: peer, tag: 1)
            }
        }
        return MPIEnvironment.wallTime() - start
    }

    /// osu_bw: rank 0 posts a window of `MPI_Isend`, waits for all, then waits for a
    /// 4-byte ack from rank 1, which posts the matching `MPI_Irecv` window.
    static func windowed(size: Int, plan: IterationPlan, window: Int, rank: Int, comm: Communicator) throws(MPIError) -> Double {
        let buffer = MessageBuffer<UInt8>(repeating: rank == 0 ? 0x61 : 0x62, count: size)
        var ack = [UInt8](repeating: 0, count: 4)
        var group = RequestGroup(capacity: window)
        let total = plan.iterations + plan.warmup
        var start = 0.0
        if rank == 0 {
            for i in 0..<total {
                if i == plan.warmup { start = MPIEnvironment.wallTime() }
                for _ in 0..<window { group.add(try comm.isend(buffer, to: 1, tag: 100)) }
                try group.waitAll()
                try comm.receive(into: &ack, from: .rank(1), tag: .value(101))
            }
        } else {
            for i in 0..<total {
                if i == plan.warmup { start = MPIEnvironment.wallTime() }
                for _ in 0..<window { group.add(try comm.irecv(into: buffer, from: .rank(0), tag: .value(100))) }
                try group.waitAll()
                try comm.send(ack, to: 0, tag: 101)
            }
        }
        return MPIEnvironment.wallTime() - start
    }

    /// osu_bibw: both ranks post a window of receives and a window of sends, then wait
    /// for all of them.
    static func bidirectional(size: Int, plan: IterationPlan, window: Int, rank: Int, comm: Communicator) throws(MPIError) -> Double {
        let outgoing = MessageBuffer<UInt8>(repeating: 0x61, count: size)
        let incoming = MessageBuffer<UInt8>(repeating: 0x62, count: size)
        var group = RequestGroup(capacity: 2 * window)
        let peer = 1 - rank
        let total = plan.iterations + plan.warmup
        var start = 0.0
        for i in 0..<total {
            if i == plan.warmup { start = MPIEnvironment.wallTime() }
            for _ in 0..<window { group.add(try comm.irecv(into: incoming, from: .rank(peer), tag: .value(200))) }
            for _ in 0..<window { group.add(try comm.isend(outgoing, to: peer, tag: 200)) }
            try group.waitAll()
        }
        return MPIEnvironment.wallTime() - start
    }
}
