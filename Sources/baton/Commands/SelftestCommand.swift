import ArgumentParser
import BatonSupport
import BatonTools
import MPI

struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check every MPI point-to-point and collective call across the ranks it is started on.",
        discussion: """
            Start it under mpirun with any number of ranks, e.g.
              mpirun -np 4 baton selftest
            Each call (send/recv, sendrecv, probe, isend/irecv, barrier, bcast, reduce,
            allreduce in and out of place, gather, scatter, allgather, allgatherv,
            reduce_scatter_block, alltoall; every reduction operation) runs on 10 element
            types and counts 0, 1, 1001 and 1 MiB of data, and is compared with values each
            rank computes locally. Rank 0 prints a table (one row per call, one column per
            type) and a line per failure naming call, type, count, rank and the first wrong
            element. Exit 0 only if everything passed; 1 otherwise.
            """)

    @Flag(name: .long, help: "Print one row per call, type and count instead of the call x type matrix.")
    var rows = false

    @Flag(name: .long, help: "Print only the summary and failures (for scripts).")
    var quiet = false

    @Option(name: .long, help: ArgumentHelp("Test the checker: the last rank expects a wrong value for this call, e.g. 'allreduce(sum)'. The run must then fail.", valueName: "call"))
    var injectFault: String?

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Element counts to check instead of 0 1 1001 1MiB (a number, or NkiB / NMiB of data).", valueName: "count"))
    var counts: [String] = []

    func run() throws {
        let level = try MPIEnvironment.initialize(requesting: .single)
        let comm = Communicator.world
        let isRoot = comm.rank == 0
        var options = SelftestOptions(injectFault: injectFault)
        if !counts.isEmpty { options.counts = try counts.map(Self.parseCount) }

        let environment = try SelftestEnvironment.gather(on: comm, threadLevel: level)
        let selftest = Selftest(comm: comm, options: options)
        let results = selftest.run()

        if isRoot {
            print(SelftestReport.header(environment))
            if !quiet {
                print()
                print(rows ? SelftestReport.rows(results) : SelftestReport.matrix(results, counts: options.counts))
            }
            let failures = SelftestReport.failures(results)
            if !failures.isEmpty {
                print()
                failures.forEach { print($0) }
            }
            print()
            print("selftest: \(results.count - failures.count) of \(results.count) checks passed on \(comm.size) ranks\(failures.isEmpty ? "" : ", \(failures.count) FAILED")")
        }
        let passed = results.allSatisfy(\.passed)
        try MPIEnvironment.finalize()
        if !passed { throw CommandFailure.checkFailed }
    }

    static func parseCount(_ text: String) throws -> SelftestCount {
        let lower = text.lowercased()
        for (suffix, scale) in [("mib", 1 << 20), ("kib", 1 << 10)] where lower.hasSuffix(suffix) {
            if let n = Int(lower.dropLast(suffix.count)), n >= 0 { return .bytes(n * scale) }
        }
        if let n = Int(lower), n >= 0 { return .elements(n) }
        throw ValidationError("--counts: '\(text)' is not a count (a number, or e.g. 64kiB, 1MiB)")
    }
}
