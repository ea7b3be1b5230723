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
}
