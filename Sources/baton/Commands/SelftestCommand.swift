import ArgumentParser
import BatonCore

struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "(not built yet)")

    func run() throws {
        print("baton selftest: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
