import ArgumentParser
import BatonCore

struct GridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid",
        abstract: "(not built yet)")

    func run() throws {
        print("baton grid: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
