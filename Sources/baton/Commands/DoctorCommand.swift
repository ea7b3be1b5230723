import ArgumentParser
import BatonCore

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "(not built yet)")

    func run() throws {
        print("baton doctor: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
