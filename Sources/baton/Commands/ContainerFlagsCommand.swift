import ArgumentParser
import BatonCore

struct ContainerFlagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container-flags",
        abstract: "(not built yet)")

    func run() throws {
        print("baton container-flags: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
