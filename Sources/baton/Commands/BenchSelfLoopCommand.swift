import ArgumentParser
import BatonSupport
import BatonTools
import Foundation
import MPI

// MARK: binding overhead

struct SelfLoopBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selfloop",
        abstract: "ns per blocking send+receive to the same rank through the Swift bindings (compare with Benchmarks/c-baseline c-selfloop).",
        shouldDisplay: false)

    func run() throws {
        try runUnderMPI { comm in
            let ns = try BindingOverhead.sendReceiveNanoseconds()
            if comm.rank == 0 { print("{\"suite\": \"selfloop\", \"impl\": \"swift\", \"ns_per_send_receive\": \(formatNs(ns))}") }
            return ExitCodes.success
        }
    }

    func formatNs(_ ns: Double) -> String { String(Double(Int(ns * 100)) / 100) }
}
