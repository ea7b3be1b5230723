import ArgumentParser
import BatonLaunch
import BatonRuns
import BatonSystem
import Foundation

/// `baton launch report RUN [--json]`: the report of a launch run, read from its store
/// (what the head wrote to RUN/report.json at its end, which is a view of the same).
struct LaunchReportCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton launch report"
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The report of a launch run from its store (RUN/launch.sqlite): how it ended, every attempt.",
        discussion: """
            --json prints it as RUN/report.json has it (the head writes that file from the store). A run
            made before the store (no RUN/launch.sqlite) is read from its report.json. Exit 2 when RUN is
            not a launch run or has no report yet (its head runs, or was lost: see `baton status RUN`).
            """)

    @Argument(help: "The launch run directory.") var runDir: String
    @Flag(help: "JSON, as RUN/report.json.") var json = false

    func run() throws {
        let report = try LaunchRunFiles.endedReport(absolutePath(runDir))
        if json {
            print(String(decoding: LaunchRunFiles.reportJSON(report), as: UTF8.self))
        } else {
            print(report.summary)
        }
    }
}
