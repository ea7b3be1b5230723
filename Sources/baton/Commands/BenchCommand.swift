import ArgumentParser
import BatonCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "(not built yet)")

    func run() throws {
        print("baton bench: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
