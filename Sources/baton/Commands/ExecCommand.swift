import ArgumentParser
import BatonCore

struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "(not built yet)")

    func run() throws {
        print("baton exec: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
