import ArgumentParser
import BatonCore
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `baton runs`, `baton status`, `baton logs`: read-only views of launch and grid runs, from
/// any terminal, while their heads run and after.
fileprivate func fail(_ command: String, _ text: String, _ code: Int32 = ExitCodes.badInput) -> ExitCode {
    FileHandle.standardError.write(Data("baton \(command): \(text)\n".utf8))
    return ExitCode(code)
}


fileprivate func summary(_ command: String, _ dir: String) throws -> RunSummary {
    guard let s = RunSummary.read(dir) else {
        throw fail(command, "\(dir) is not a run directory (no \(GridStore.fileName), \(LaunchStore.fileName), \(LaunchRunFiles.settingsFile) or attempts/attempt-N.plan.json)")
    }
    return s
}

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
            let s = try summary("status", dir)
            let now = Date().timeIntervalSince1970
            var text: String
            switch s.kind {
            case .launch:
                text = json ? LaunchStatus.json(dir, now: now) + "\n" : LaunchStatus.text(dir, now: now)
            case .grid:
                let snap: GridSnapshot
                do { snap = try GridStore(runDir: dir, readOnly: true).snapshot(events: 10) } catch { throw fail("status", "\(error)") }
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
        let s = try summary("logs", dir)
        let filter = RunLogs.Filter(rank: rank, node: node, config: config, head: head)
        if let why = RunLogs.mismatch(filter, kind: s.kind) { throw fail("logs", why) }
        signal(SIGPIPE, SIG_IGN)
        RunLogs.show(sources: { RunLogs.sources(runDir: dir, kind: s.kind, filter: filter) }, follow: follow,
                     running: { RunSummary.read(dir)?.state == .running }) { text in
            if !writeAll(fd: 1, text) { Foundation.exit(0) }
        }
    }
}

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
        let s = try summary("report", dir)
        if let svg {
            guard let t = RunTimeline.read(dir, now: Date().timeIntervalSince1970) else { throw fail("report", "\(dir): cannot read the run") }
            do { try t.svg().write(toFile: svg, atomically: true, encoding: .utf8) } catch {
                throw fail("report", "cannot write \(svg): \(error.localizedDescription)", ExitCodes.jobFailed)
            }
            print("baton report: \(svg): \(t.nodes.count) nodes, \(t.bars.count) attempt bars, "
                  + "\(t.marks.filter { $0.kind == .lost }.count) lost, \(t.marks.filter { $0.kind == .handoff }.count) hand-offs, "
                  + "\(t.marks.filter { $0.kind == .restart }.count) restarts, \(t.curves.count) curves\(t.metric.map { " of \($0)" } ?? "")")
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
            do { snap = try GridStore(runDir: dir, readOnly: true).snapshot(events: 0) } catch { throw fail("report", "\(error)") }
            let rows = GridReport.results(snap)
            print(json ? GridReport.json(rows) : GridReport.table(rows, objective: GridReport.objective(snap.meta)), terminator: json ? "\n" : "")
        }
    }
}
