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

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A launch's or a grid's report; --svg draws its timeline and metric curves.",
        discussion: """
            --svg FILE: a lane per node with every attempt (a grid config's attempt, or a launch attempt on
            each of its nodes) coloured by how it ended, lost nodes (red cross), hand-offs (dashed curve from
            the lost attempt to the resumed one), restarts and resumes (dashed lines); below, one metric by
            step (a grid's objective, else loss, else the first non-bookkeeping field) per config or per
            launch attempt. Render it with a browser or rsvg-convert.
            """)

    @Argument(help: "The run directory.") var runDir: String
    @Option(help: "Write the SVG picture of the run here.") var svg: String?
    @Flag(help: "The report as JSON (launch: report.json; grid: results).") var json = false

    func run() throws {
        let dir = absolutePath(runDir)
        let s = try summary(dir)
        if let svg {
            guard let t = RunTimeline.read(dir, now: Date().timeIntervalSince1970) else { throw CommandFailure(ExitCodes.badInput, "\(dir): cannot read the run") }
            do { try t.svg().write(toFile: svg, atomically: true, encoding: .utf8) } catch {
                throw CommandFailure(ExitCodes.ioError, "cannot write \(svg): \(error.localizedDescription)")
            }
            print("baton report: \(svg): \(t.caption)")
            return
        }
        switch s.kind {
        case .launch:
            guard let report = LaunchRunFiles.report(dir) else {
                print(LaunchStatus.text(dir, now: Date().timeIntervalSince1970), terminator: "")
                return
            }
            if json {
                print(String(decoding: LaunchRunFiles.reportJSON(report), as: UTF8.self))
            } else {
                print(report.summary)
            }
        case .grid:
            let snap: GridSnapshot
            do { snap = try GridStore(runDir: dir, readOnly: true).snapshot(events: 0) } catch { throw GridRunError("\(error)") }
            let rows = GridReport.results(snap)
            print(json ? GridReport.json(rows) : GridReport.table(rows, objective: GridReport.objective(snap.meta)), terminator: json ? "\n" : "")
        }
    }
}
