import ArgumentParser
import BatonReports
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "The output of a launch's ranks or a grid's configs, from the run's files; -f follows it until the run ends.",
        discussion: """
            Launch runs: RUN/logs/<node>.<rank>.log, each line shown as node:rank text. Grid runs: every
            attempt's log (RUN/configs/<id>/attempt-N.log), shown as config#attempt@nodes text. --head
            shows the head's own log (a detached head's RUN/head.log).
            """)

    @Argument(help: "The run directory.") var runDir: String
    @Flag(name: [.customShort("f"), .long], help: "Keep printing new lines until the run's head ends.") var follow = false
    @Option(help: "Only this rank (launch).") var rank: Int?
    @Option(help: "Only this node.") var node: String?
    @Option(help: "Only this config (grid).") var config: String?
    @Flag(help: "The head's own log instead.") var head = false

    func run() throws {
        let dir = absolutePath(runDir)
        let s = try summary(dir)
        let filter = RunLogs.Filter(rank: rank, node: node, config: config, head: head)
        if let why = RunLogs.mismatch(filter, kind: s.kind) { throw CommandFailure(ExitCodes.badInput, why) }
        signal(SIGPIPE, SIG_IGN)
        RunLogs.show(sources: { RunLogs.sources(runDir: dir, kind: s.kind, filter: filter) }, follow: follow,
                     running: { RunSummary.read(dir)?.state == .running }) { text in
            if !writeAll(fd: 1, text) { Foundation.exit(0) }
        }
    }
}
