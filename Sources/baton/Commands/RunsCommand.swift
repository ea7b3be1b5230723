import ArgumentParser
import BatonGrid
import BatonLaunch
import BatonReports
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The run in `dir`, or bad input when it is none (`baton status`, `logs`, `report`).
func summary(_ dir: String) throws -> RunSummary {
    guard let s = RunSummary.read(dir) else {
        throw CommandFailure(ExitCodes.badInput, "\(dir) is not a run directory (no \(GridStore.fileName), \(LaunchStore.fileName), \(LaunchRunFiles.settingsFile) or attempts/attempt-N.plan.json)")
    }
    return s
}

/// `baton runs`, `baton status`, `baton logs`: read-only views of launch and grid runs, from
/// any terminal, while their heads run and after.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the launch and grid runs under a directory: kind, state, head, progress.",
        discussion: """
            Looks at ROOT and two levels below it. State: running (its head is alive), done, failed,
            stopped (Ctrl-C, SIGTERM, grid stop), head lost (the head died without ending the run).
            Stopped and head-lost runs continue with `baton launch --resume RUN` / `baton grid --resume RUN`.
            """)

    @Argument(help: "Where to look (default: the current directory).") var root: String = "."
    @Flag(help: "JSON: path, kind, state, headPID, progress, started, updated.") var json = false

    func run() throws {
        let runs = RunSummary.find(under: absolutePath(root))
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(runs), as: UTF8.self))
            return
        }
        guard !runs.isEmpty else { print("no runs under \(absolutePath(root))"); return }
        print(RunSummary.table(runs, now: Date().timeIntervalSince1970))
    }
}
