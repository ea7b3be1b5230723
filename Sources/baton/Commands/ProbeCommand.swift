import ArgumentParser
import BatonCore

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "(not built yet)")

    func run() throws {
        print("baton probe: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
