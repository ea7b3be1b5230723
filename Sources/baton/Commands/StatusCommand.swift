import ArgumentParser
import BatonGrid
import BatonReports
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The state of one launch or grid run: attempts or configs, nodes, recent events.")

    @Argument(help: "The run directory.") var runDir: String
    @Flag(help: "Refresh every second until the run ends (Ctrl-C to leave), with the run's timeline.") var watch = false
    @Flag(help: "Add the timeline: a lane per node, its attempts by how they ended, lost nodes, restarts and hand-offs.")
    var timeline = false
    @Flag(help: "JSON instead of text.") var json = false

    /// Columns of the terminal on stdout (else $COLUMNS, else 100).
    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { return Int(size.ws_col) }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 20 { return c }
        return 100
    }

    func run() throws {
        let dir = absolutePath(runDir)
        let color = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        while true {
            let s = try summary(dir)
            let now = Date().timeIntervalSince1970
            var text: String
            switch s.kind {
            case .launch:
                text = json ? LaunchStatus.json(dir, now: now) + "\n" : LaunchStatus.text(dir, now: now)
            case .grid:
                let snap: GridSnapshot
                do { snap = try GridStore(runDir: dir, readOnly: true).snapshot(events: 10) } catch { throw GridRunError("\(error)") }
                text = json ? GridReport.statusJSON(snap, runDir: dir, headPID: s.headPID, now: now) + "\n"
                    : GridReport.status(snap, runDir: dir, headPID: s.headPID, now: now) + "state: \(s.state.rawValue)\n"
            }
            if (watch || timeline) && !json, let t = RunTimeline.read(dir, now: now) {
                text += "\n" + t.text(width: Self.terminalWidth(), color: color)
            }
            if watch && !json { text = "\u{1B}[H\u{1B}[2J" + text }
            print(text, terminator: "")
            fflush(nil)
            if !watch || json || s.state != .running { return }
            usleep(1_000_000)
        }
    }
}
