import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

// MARK: rdma

struct RDMABenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdma",
        abstract: "RDMA write/read/send bandwidth or latency between ranks 0 and 1 over a verbs RC queue pair (perftest method).",
        discussion: """
            Like ib_write_bw / ib_read_lat / ib_send_bw, with the queue-pair information exchanged over MPI.
            Bandwidth in MiB/s (2^20, perftest's default) and Gb/s; latency in microseconds (min, max, typical,
            average, stdev, 99%, 99.9%), half a round trip for write and send, not halved for read.
            Without an RDMA device it says what the probe found and exits 3.
            """)

    @Argument(help: "write, read or send") var operation: String
    @Flag(help: "Measure latency instead of bandwidth.") var latency = false
    @Flag(name: .shortAndLong, help: "Every size from 2 B to 8 MiB (perftest -a).") var all = false
    @Option(help: "Message size (default 64K for bandwidth, 2 for latency).") var size: String?
    @Option(name: .customLong("max-size"), help: "With --all, the largest size.") var maxSize: String?
    @Option(name: .customLong("iters"), help: "Iterations per size (perftest: 5000 bandwidth, 1000 latency).") var iterations: Int?
    @Option(name: .customLong("tx-depth"), help: "Operations in flight (perftest: 128).") var txDepth = RDMASizes.defaultTxDepth
    @Option(help: "RDMA device (default: the first with an ACTIVE port).") var device: String?
    @Option(help: "Port number (default: the first ACTIVE one).") var port: Int?
    @Option(name: .customLong("gid-index"), help: "Source GID index for RoCE.") var gidIndex = 0
    @Flag(help: "Print JSON instead of the table.") var json = false

    func run() throws {
        guard let op = RDMAOperation(rawValue: operation) else {
            throw ValidationError("the operation is write, read or send, not '\(operation)'")
        }
        func bytes(_ text: String?, _ name: String) throws -> Int? {
            guard let text else { return nil }
            guard let b = MessageSizes.parseByteSize(text) else { throw ValidationError("\(name) '\(text)' is not a size") }
            return b
        }
        let sizes = try RDMASizes.schedule(all: all, size: try bytes(size, "--size"), maximum: try bytes(maxSize, "--max-size"), latency: latency)
        let options = RDMAOptions(
            operation: op, test: latency ? .latency : .bandwidth, sizes: sizes, iterations: iterations, txDepth: txDepth,
            device: device, port: port, gidIndex: gidIndex)
        try runUnderMPI { comm in
            let result = try RDMABench.run(options, on: comm)
            if comm.rank == 0 { print(json ? RDMABench.json(result) : RDMABench.table(result)) }
            return ExitCodes.success
        }
    }
}
