import ArgumentParser
import BatonSupport

@main
struct Baton: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baton",
        abstract: "Multi-node distributed-training launcher over MPI and InfiniBand verbs.",
        discussion: """
            Exit codes: \(ExitCodes.summary)
            """,
        version: BatonVersion.string,
        subcommands: [
            SelftestCommand.self,
            ProbeCommand.self,
            DoctorCommand.self,
            ContainerFlagsCommand.self,
            ContainerConfigCommand.self,
            ShardCommand.self,
            LaunchCommand.self,
            ExecCommand.self,
            GridCommand.self,
            RunsCommand.self,
            StatusCommand.self,
            LogsCommand.self,
            ReportCommand.self,
            SnapshotCommand.self,
            RestoreCommand.self,
            BenchCommand.self,
        ])

    /// Parses, runs, and maps whatever the command throws to an exit code in one place
    /// (`ExitCodes.exit(for:command:)`).
    static func main() {
        var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            try command.run()
        } catch {
            ExitCodes.exit(for: error, command: type(of: command))
        }
    }
}
