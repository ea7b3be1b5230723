import ArgumentParser
import BatonCore

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "(not built yet)")

    func run() throws {
        print("baton launch: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
