import ArgumentParser
import BatonCore

struct ShardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "(not built yet)")

    func run() throws {
        print("baton shard: not built yet")
        throw ExitCode(ExitCodes.unavailable)
    }
}
