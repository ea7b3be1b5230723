import BatonGrid
import BatonLaunch
import BatonProtocol
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation

/// Where a run is, as `baton runs` and `baton status` say it.
public enum RunState: String, Sendable, Codable {
    /// Its head is alive.
    case running
    /// It ended and did everything (launch: completed; grid: every config done).
    case done
    /// It ended with a failure (launch: failed; grid: a config failed for good).
    case failed
    /// Its head was stopped (Ctrl-C, SIGTERM, `grid stop`): `--resume` continues it.
    case stopped
    /// Its head is gone without having ended the run (killed, its machine lost):
    /// `--resume` continues it.
    case headLost = "head lost"
}

/// One run directory, read without changing it (heads may be writing at the same time).
public struct RunSummary: Sendable, Codable, Equatable {
    var path: String
    public var kind: RunKind
    public var state: RunState
    public var headPID: Int32?
    /// For a person: attempt and samples (launch), configs done (grid).
    var progress: String
    /// When the run was made (seconds since 1970), if known.
    public var started: Double?
    /// When its state last changed (the newest event), if known.
    var updated: Double?

    /// Reads `dir` as a run directory; nil when it is none.
    public static func read(_ dir: String) -> RunSummary? {
        switch RunDirectory(dir).kind {
        case .grid?: return grid(dir)
        case .launch?: return launch(dir)
        case nil: return nil
        }
    }

    static func launch(_ dir: String) -> RunSummary {
        let head = DetachedHead.alive(runDir: dir, kind: .launch)
        let attempts = LaunchRunFiles.attemptNumbers(dir)
        let report = LaunchRunFiles.report(dir)
        var state = RunState.headLost
        if head != nil {
            state = .running
        } else if let report, (report.attempts.last?.attempt ?? 0) >= (attempts.last ?? 0) {
            switch report.result {
            case .completed: state = .done
            case .failed: state = .failed
            case .interrupted: state = .stopped
            }
        }
        let events = LaunchRunFiles.events(dir)
        let settings = LaunchRunFiles.settings(dir)
        var progress = attempts.last.map { "attempt \($0)" } ?? "not started"
        if let c = LaunchRunFiles.consumed(dir) {
            progress += ", \(c)"
            if let total = settings?.spec.shardSamples { progress += " of \(total)" }
            progress += " samples"
        }
        let started = settings?.created ?? (events.first?["time"] as? NSNumber)?.doubleValue
        return RunSummary(path: dir, kind: .launch, state: state, headPID: head, progress: progress, started: started,
                          updated: (events.last?["time"] as? NSNumber)?.doubleValue)
    }

    static func grid(_ dir: String) -> RunSummary {
        guard let store = try? GridStore(runDir: dir, readOnly: true), let meta = try? store.meta(), let t = try? store.tally() else {
            return RunSummary(path: dir, kind: .grid, state: .headLost, headPID: nil, progress: "store unreadable", started: nil, updated: nil)
        }
        let head = GridHead.alivePID(runDir: dir, meta: meta)
        let open = t.configs - t.done - t.failed - t.stopped
        let state: RunState
        if head != nil { state = .running }
        else if open == 0 { state = t.failed > 0 ? .failed : .done }
        else if meta["head_pid"] == "0" || meta["head_pid"] == nil { state = .stopped }
        else { state = .headLost }
        var progress = "\(t.done)/\(t.configs) configs done"
        if t.failed > 0 { progress += ", \(t.failed) failed" }
        if t.stopped > 0 { progress += ", \(t.stopped) stopped early" }
        if t.runningAttempts > 0 { progress += ", \(t.runningAttempts) running" }
        let updated = (try? store.snapshot(events: 1))?.recentEvents.last?.time
        return RunSummary(path: dir, kind: .grid, state: state, headPID: head, progress: progress,
                          started: meta["created_at"].flatMap(Double.init), updated: updated)
    }

    /// Every run at `root` or below it (two levels down; a run's own directories are not
    /// searched), ordered by start time.
    public static func find(under root: String, depth: Int = 2) -> [RunSummary] {
        if let r = read(root) { return [r] }
        guard depth > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var found: [RunSummary] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = (root as NSString).appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { continue }
            found += find(under: path, depth: depth - 1)
        }
        return found.sorted { ($0.started ?? 0, $0.path) < ($1.started ?? 0, $1.path) }
    }

    /// `baton runs`: one row per run.
    public static func table(_ runs: [RunSummary], now: Double) -> String {
        var t = TextTable(header: ["run", "kind", "state", "head", "progress", "started", "last change"])
        for r in runs {
            t.add([r.path, r.kind.rawValue, r.state.rawValue, r.headPID.map { "pid \($0)" } ?? "-", r.progress,
                         r.started.map { RunFormat.ago(now - $0) } ?? "-", r.updated.map { RunFormat.ago(now - $0) } ?? "-"])
        }
        return t.render()
    }
}

enum RunFormat {
    /// "42 s ago", "3 min ago", "2.5 h ago".
    static func ago(_ seconds: Double) -> String {
        formatDuration(seconds, .coarse) + " ago"
    }
}
