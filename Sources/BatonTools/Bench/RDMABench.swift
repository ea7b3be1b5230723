import BatonSupport
import MPI
import Verbs

public enum RDMATest: String, Sendable { case bandwidth, latency }

public struct RDMAOptions: Sendable {
    var operation: RDMAOperation
    var test: RDMATest
    var sizes: [Int]
    /// perftest's defaults: 5000 for bandwidth, 1000 for latency (`-n`).
    var iterations: Int
    var txDepth: Int
    var device: String?
    var port: Int?
    var gidIndex: Int

    public init(
        operation: RDMAOperation, test: RDMATest, sizes: [Int], iterations: Int? = nil, txDepth: Int = RDMASizes.defaultTxDepth,
        device: String? = nil, port: Int? = nil, gidIndex: Int = 0
    ) {
        self.operation = operation
        self.test = test
        self.sizes = sizes
        self.iterations = iterations ?? (test == .bandwidth ? 5000 : 1000)
        self.txDepth = txDepth
        self.device = device
        self.port = port
        self.gidIndex = gidIndex
    }
}

/// The device and port a rank will use, or why it has none.
enum RDMAPortChoice: Sendable, Equatable {
    case ready(device: String, port: Int)
    case unavailable(String)
}

public struct RDMAResult: Sendable {
    var options: RDMAOptions
    var device: String
    var port: Int
    var bandwidth: [RDMABandwidth]
    public var latency: [RDMALatency]
}

public enum RDMABench {
    /// Picks the device and port from what the probe found: the named ones, or the
    /// first ACTIVE port that libibverbs can open. When there is none, says what the
    /// probe saw, so the user knows whether hardware, driver or container is missing.
    static func choosePort(_ report: ProbeReport, device: String?, port: Int?) -> RDMAPortChoice {
        let verbsSays = "libibverbs: \(report.verbs.summary)"
        guard !report.devices.isEmpty else {
            return .unavailable("no RDMA device: sysfs lists none under /sys/class/infiniband; \(verbsSays). Run `baton probe` for details.")
        }
        let candidates = report.devices.filter { device == nil || $0.name == device }
        guard !candidates.isEmpty else {
            return .unavailable("no RDMA device named \(device!); found \(report.devices.map(\.name).joined(separator: ", ")).")
        }
        var why: [String] = []
        for d in candidates {
            if d.seenByVerbs == false {
                why.append("\(d.name) is in sysfs but libibverbs cannot open it (/dev/infiniband/\(d.uverbs ?? "uverbs?") missing? in a container pass --device)")
                continue
            }
            for p in d.ports where port == nil || p.number == port {
                if p.isActive { return .ready(device: d.name, port: p.number) }
                why.append("\(d.name) port \(p.number) is \(p.state ?? "not ACTIVE")")
            }
        }
        if why.isEmpty { why.append("no port \(port.map(String.init) ?? "")") }
        return .unavailable("no usable RDMA port: " + why.joined(separator: "; ") + "; \(verbsSays).")
    }

    /// Runs the perftest-style test between ranks 0 and 1. Every rank first probes its
    /// own machine; if any rank has no usable port, every rank throws `.unavailable`
    /// with the reasons of the ranks that lack one.
    public static func run(_ options: RDMAOptions, on comm: Communicator, probe: () -> ProbeReport = { Prober().run() }) throws -> RDMAResult {
        guard comm.size >= 2 else {
            throw BenchError(.wrongWorld, "rdma runs between ranks 0 and 1; start it with 2 ranks (mpirun -np 2 baton bench rdma write)")
        }
        guard options.iterations >= 1, options.txDepth >= 1 else { throw BenchError(.badOption, "--iters and --tx-depth must be at least 1") }
        let rank = comm.rank
        let choice: RDMAPortChoice = rank < 2 ? choosePort(probe(), device: options.device, port: options.port) : .ready(device: "", port: 0)
        let host = (try? MPIEnvironment.processorName()) ?? "?"
        let reasons = try gatherStrings(
            { if case .unavailable(let why) = choice { return "rank \(rank) (\(host)): \(why)" } else { return "" } }(), comm: comm)
        let missing = reasons.filter { !$0.isEmpty }
        if !missing.isEmpty {
            throw BenchError(.unavailable, "rdma needs an RDMA device with an ACTIVE port on ranks 0 and 1.\n" + missing.joined(separator: "\n"))
        }
        guard case .ready(let deviceName, let portNumber) = choice else { throw BenchError(.unavailable, "no RDMA port") }
        var result = RDMAResult(options: options, device: deviceName, port: portNumber, bandwidth: [], latency: [])
        if rank < 2 {
            do {
                let link = try Link(options: options, device: deviceName, port: portNumber, rank: rank, comm: comm)
                for size in options.sizes {
                    try comm.barrier()
                    switch options.test {
                    case .bandwidth: result.bandwidth.append(try link.bandwidth(size: size))
                    case .latency: result.latency.append(try link.latency(size: size))
                    }
                }
            } catch let error as VerbsError {
                throw BenchError(.callFailed, "rank \(rank): \(error)")
            }
        } else {
            for _ in options.sizes { try comm.barrier() }
        }
        return result
    }

    /// Every rank's string (at most 1 KiB), gathered on every rank.
    static func gatherStrings(_ text: String, comm: Communicator) throws -> [String] {
        let width = 1024
        var mine = [UInt8](repeating: 0, count: width)
        let bytes = Array(text.utf8.prefix(width - 1))
        mine.replaceSubrange(0..<bytes.count, with: bytes)
        var all = [UInt8](repeating: 0, count: width * comm.size)
        try comm.allGather(mine, into: &all)
        return (0..<comm.size).map { r in String(decoding: all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// One RC connection between ranks 0 and 1 and the perftest loops over it.
    final class Link {
        let options: RDMAOptions
        let rank: Int
        let comm: Communicator
        let context: Context
        let domain: ProtectionDomain
        let queue: CompletionQueue
        let pair: QueuePair
        let region: MemoryRegion
        let peer: QueuePairInfo
        let half: Int

        init(options: RDMAOptions, device: String, port: Int, rank: Int, comm: Communicator) throws {
            self.options = options
            self.rank = rank
            self.comm = comm
            context = try Context(named: device)
            domain = try ProtectionDomain(context: context)
            queue = try CompletionQueue(context: context, depth: 2 * options.txDepth + 1)
            pair = try QueuePair(
                protectionDomain: domain, completionQueue: queue, maxSendRequests: options.txDepth, maxReceiveRequests: options.txDepth)
            // Two halves: this side sends or reads from the first, the peer writes into
            // the second, so a ping's mark never appears in the buffer it was sent from.
            let largest = max(1, options.sizes.max() ?? 1)
            half = largest
            region = try MemoryRegion(protectionDomain: domain, length: 2 * largest, access: [.localWrite, .remoteWrite, .remoteRead])
            try pair.moveToInit(port: port, access: [.localWrite, .remoteWrite, .remoteRead])
            let attributes = try context.queryPort(port)
            let gid = attributes.linkLayer == .ethernet ? try context.queryGID(port: port, index: options.gidIndex).bytes : [UInt8](repeating: 0, count: 16)
            let psn = UInt32.random(in: 0...0xFF_FFFF)
            let mine = QueuePairInfo(
                lid: attributes.lid, queuePairNumber: pair.number, packetSequenceNumber: psn, remoteKey: region.remoteKey,
                address: region.address, length: UInt64(region.length), gid: gid)
            // Out-of-band exchange over MPI, where perftest uses a TCP socket.
            var theirs = [UInt8](repeating: 0, count: QueuePairInfo.encodedSize)
            try comm.sendReceive(try mine.encoded(), to: 1 - rank, sendTag: 400, into: &theirs, from: .rank(1 - rank), receiveTag: .value(400))
            peer = try QueuePairInfo(decoding: theirs)
            let mtu = PathMTU(rawValue: attributes.activeMTU) ?? .mtu1024
            try pair.moveToReadyToReceive(
                remote: RemoteEndpoint(lid: peer.lid, queuePairNumber: peer.queuePairNumber, packetSequenceNumber: peer.packetSequenceNumber, gid: GID(bytes: peer.gid)),
                port: port, mtu: mtu, gidIndex: options.gidIndex)
            try pair.moveToReadyToSend(packetSequenceNumber: psn)
            try comm.barrier()
        }

        var operation: QueuePair.SendOperation {
            switch options.operation {
            case .write: return .write(remoteAddress: peer.address + UInt64(half), remoteKey: peer.remoteKey)
            case .read: return .read(remoteAddress: peer.address, remoteKey: peer.remoteKey)
            case .send: return .send
            }
        }

        /// ib_*_bw: rank 0 keeps up to tx-depth operations in flight until `iterations`
        /// complete; for send, rank 1 keeps receives posted. Time from first post to
        /// last completion.
        func bandwidth(size: Int) throws -> RDMABandwidth {
            let n = options.iterations
            let depth = options.txDepth
            var seconds = 0.0
            if options.operation == .send && rank == 1 {
                var posted = 0
                var done = 0
                while posted < min(depth, n) { try pair.postReceive(region: region, length: size); posted += 1 }
                try comm.barrier()
                while done < n {
                    let got = try queue.poll()
                    done += got
                    for _ in 0..<got where posted < n { try pair.postReceive(region: region, length: size); posted += 1 }
                }
            } else if options.operation == .send {
                try comm.barrier()
            }
            if rank == 0 {
                var posted = 0
                var done = 0
                let start = MPIEnvironment.wallTime()
                while done < n {
                    while posted < n && posted - done < depth {
                        try pair.postSend(operation, region: region, length: size, signaled: true, id: UInt64(posted))
                        posted += 1
                    }
                    done += try queue.poll()
                }
                seconds = MPIEnvironment.wallTime() - start
            }
            try comm.barrier()
            return RDMABandwidth(sizeBytes: size, iterations: n, seconds: seconds)
        }

        /// ib_*_lat: write and send ping-pong (halved), read one operation at a time
        /// (not halved). Write latency polls the last byte of the buffer for the
        /// iteration's mark, as perftest does.
        func latency(size: Int) throws -> RDMALatency {
            let n = options.iterations
            var samples: [Double] = []
            samples.reserveCapacity(n)
            let last = size - 1
            switch options.operation {
            case .read:
                if rank == 0 {
                    for _ in 0..<n {
                        let t0 = MPIEnvironment.wallTime()
                        try pair.postSend(operation, region: region, length: size, signaled: true)
                        try queue.wait(for: 1)
                        samples.append(MPIEnvironment.wallTime() - t0)
                    }
                }
            case .write:
                let watched = half + last
                region.storeByte(0, at: watched)
                region.storeByte(0, at: last)
                try comm.barrier()
                for i in 0..<n {
                    let mark = UInt8(truncatingIfNeeded: i % 255 + 1)
                    let t0 = MPIEnvironment.wallTime()
                    if rank == 0 {
                        region.storeByte(mark, at: last)
                        try pair.postSend(operation, region: region, length: size, signaled: true)
                        try queue.wait(for: 1)
                        while region.loadVolatileByte(at: watched) != mark {}
                    } else {
                        while region.loadVolatileByte(at: watched) != mark {}
                        region.storeByte(mark, at: last)
                        try pair.postSend(operation, region: region, length: size, signaled: true)
                        try queue.wait(for: 1)
                    }
                    samples.append(MPIEnvironment.wallTime() - t0)
                }
            case .send:
                try pair.postReceive(region: region, length: size)
                try comm.barrier()
                for _ in 0..<n {
                    let t0 = MPIEnvironment.wallTime()
                    if rank == 0 {
                        try pair.postSend(.send, region: region, length: size, signaled: true)
                        try queue.wait(for: 2)  // our send and the peer's reply
                        try pair.postReceive(region: region, length: size)
                    } else {
                        try queue.wait(for: 1)  // the ping
                        try pair.postReceive(region: region, length: size)
                        try pair.postSend(.send, region: region, length: size, signaled: true)
                        try queue.wait(for: 1)
                    }
                    samples.append(MPIEnvironment.wallTime() - t0)
                }
            }
            try comm.barrier()
            return RDMALatency(sizeBytes: size, roundTrips: samples, halve: options.operation.halvesRoundTrip)
        }
    }

    // MARK: output

    public static func table(_ result: RDMAResult) -> String {
        let op = result.options.operation.rawValue
        var lines = ["# baton bench rdma \(op) (\(result.options.test.rawValue)) on \(result.device) port \(result.port), RC queue pair, \(result.options.iterations) iterations (perftest method)"]
        switch result.options.test {
        case .bandwidth:
            lines.append("# " + BenchReport.pad("#bytes", 10) + BenchReport.pad("#iterations", 13) + BenchReport.pad("BW average[MiB/s]", 19) + BenchReport.pad("BW[Gb/s]", 10) + BenchReport.pad("MsgRate[Mpps]", 15))
            for b in result.bandwidth {
                lines.append("  " + BenchReport.pad(String(b.sizeBytes), 10) + BenchReport.pad(String(b.iterations), 13) + BenchReport.pad(formatFixed(b.mebibytesPerSecond, decimals: 2), 19)
                    + BenchReport.pad(formatFixed(b.gigabitsPerSecond, decimals: 2), 10) + BenchReport.pad(formatFixed(b.messageRateMpps, decimals: 6), 15))
            }
            lines.append("# MiB = 2^20 bytes (perftest's default unit); Gb/s = 1e9 bits per second")
        case .latency:
            lines.append("# " + ["#bytes", "#iterations", "t_min[us]", "t_max[us]", "t_typical[us]", "t_avg[us]", "t_stdev[us]", "99%[us]", "99.9%[us]"].map { BenchReport.pad($0, 13) }.joined())
            for l in result.latency {
                let cells = [String(l.sizeBytes), String(l.iterations)] + [l.minimum, l.maximum, l.typical, l.average, l.standardDeviation, l.percentile99, l.percentile999].map { formatFixed($0, decimals: 2) }
                lines.append("  " + cells.map { BenchReport.pad($0, 13) }.joined())
            }
            lines.append("# microseconds; \(result.options.operation.halvesRoundTrip ? "half a round trip" : "one read, not halved") (perftest's convention)")
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ result: RDMAResult) -> String {
        let rows: [BenchJSON]
        switch result.options.test {
        case .bandwidth:
            rows = result.bandwidth.map {
                .object([("size_bytes", .int($0.sizeBytes)), ("iterations", .int($0.iterations)), ("bandwidth_MiBps", .double($0.mebibytesPerSecond)),
                         ("bandwidth_Gbps", .double($0.gigabitsPerSecond)), ("msg_rate_Mpps", .double($0.messageRateMpps))])
            }
        case .latency:
            rows = result.latency.map {
                .object([("size_bytes", .int($0.sizeBytes)), ("iterations", .int($0.iterations)), ("t_min_us", .double($0.minimum)), ("t_max_us", .double($0.maximum)),
                         ("t_typical_us", .double($0.typical)), ("t_avg_us", .double($0.average)), ("t_stdev_us", .double($0.standardDeviation)),
                         ("p99_us", .double($0.percentile99)), ("p99_9_us", .double($0.percentile999))])
            }
        }
        return BenchJSON.object([
            ("suite", .string("rdma")), ("operation", .string(result.options.operation.rawValue)), ("test", .string(result.options.test.rawValue)),
            ("device", .string(result.device)), ("port", .int(result.port)),
            ("units", .object([("bandwidth", .string("MiB/s = 2^20 B/s; Gb/s = 1e9 bit/s")), ("latency", .string("microseconds"))])),
            ("rows", .array(rows)),
        ]).renderedRows()
    }
}
