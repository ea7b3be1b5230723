import BatonLaunch
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation

/// `baton status RUN` for a launch run: its state, every attempt, recent events.
public enum LaunchStatus {
    struct Row {
        var attempt: Int
        var nodes: [String]
        var ranks: Int
        var outcome: String
        var seconds: Double?
        var lost: [String]
    }

    static func rows(_ dir: String, summary: RunSummary, now: Double) -> [Row] {
        let report = LaunchRunFiles.report(dir)
        let events = LaunchRunFiles.events(dir)
        var rows: [Row] = []
        let numbers = LaunchRunFiles.attemptNumbers(dir)
        for n in numbers {
            if let r = LaunchRunFiles.record(dir, attempt: n) ?? report?.attempts.first(where: { $0.attempt == n }) {
                rows.append(Row(attempt: n, nodes: r.nodes, ranks: r.worldSize, outcome: r.text, seconds: r.outcome == .headLost ? nil : r.seconds, lost: r.lost.map(\.node)))
            } else if let p = LaunchRunFiles.plan(dir, attempt: n) {
                let start = events.last { LaunchEventKind.of($0) == .attemptStart && ($0["attempt"] as? NSNumber)?.intValue == n }
                let t = (start?["time"] as? NSNumber)?.doubleValue
                let live = summary.state == .running && n == numbers.last
                rows.append(Row(attempt: n, nodes: p.hosts.map(\.name), ranks: p.worldSize,
                                outcome: live ? "running" : "head lost (no record of its end)",
                                seconds: live ? t.map { now - $0 } : nil, lost: []))
            }
        }
        return rows
    }

    public static func text(_ dir: String, now: Double) -> String {
        guard let s = RunSummary.read(dir), s.kind == .launch else { return "\(dir): not a launch run directory\n" }
        var out = "launch \(dir)\n"
        out += "state: \(s.state.rawValue)" + (s.headPID.map { " (head pid \($0))" } ?? "") + ", \(s.progress)\n"
        if let settings = LaunchRunFiles.settings(dir) {
            out += "command: \(settings.spec.command.joined(separator: " "))\n"
        }
        var t = TextTable(header: ["attempt", "nodes", "ranks", "outcome", "time", "lost"], rightAligned: [0, 2])
        for r in rows(dir, summary: s, now: now) {
            t.add([String(r.attempt), r.nodes.joined(separator: ","), String(r.ranks), r.outcome,
                   r.seconds.map { formatDuration($0, .seconds(digits: 1)) } ?? "-", r.lost.isEmpty ? "-" : r.lost.joined(separator: ",")])
        }
        out += "\n" + t.render() + "\n"
        // The nodes and how they were lost: in the store (runs made before it have none).
        let nodes = (try? LaunchStore.reading(dir)?.nodes()) ?? []
        if !nodes.isEmpty {
            // With spares (`--nnodes`) the nodes outside the job are there too: a spare (one
            // that rejoined says so), or suspect with the health gate's reason.
            var n = TextTable(header: ["node", "state", "attempt", "lost how / why", "since"], rightAligned: [2])
            let t0 = (LaunchRunFiles.events(dir).first?["time"] as? NSNumber)?.doubleValue ?? 0
            for r in nodes {
                let why = r.state == .healthy ? "-" : [r.signal?.rawValue, r.cause].compactMap { $0 }.joined(separator: ": ")
                n.add([r.name, r.state.rawValue, String(r.attempt), why.isEmpty ? "-" : why,
                       t0 > 0 ? String(format: "+%.1f s", r.since - t0) : "-"])
            }
            out += "\n" + n.render() + "\n"
        }
        if s.state == .running, let last = rows(dir, summary: s, now: now).last,
           let data = FileManager.default.contents(atPath: LaunchRunFiles.scoresPath(dir, attempt: last.attempt)),
           let scores = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]], !scores.isEmpty {
            var sc = TextTable(header: ["rank", "node", "straggler score", "busy (CPUs)"], rightAligned: [0, 2, 3])
            for r in scores {
                sc.add([describe(r["rank"] ?? "?"), describe(r["node"] ?? "?"), describe(r["score"] ?? "?"), describe(r["busy"] ?? "?")])
            }
            out += "\n" + sc.render() + "\n"
        }
        let events = LaunchRunFiles.events(dir)
        if let t0 = (events.first?["time"] as? NSNumber)?.doubleValue {
            out += "\nrecent events:\n"
            for e in events.suffix(8) {
                let time = (e["time"] as? NSNumber)?.doubleValue ?? t0
                let fields = e.filter { $0.key != "event" && $0.key != "time" }.sorted { $0.key < $1.key }
                    .map { "\($0.key)=\(describe($0.value))" }.joined(separator: " ")
                out += String(format: "  [+%.1f s] ", time - t0) + "\(e["event"] as? String ?? "?") \(fields)\n"
            }
        }
        if s.state == .headLost || s.state == .stopped || s.state == .failed {
            out += "\nresume: baton launch --resume \(dir)\n"
        }
        return out
    }

    static func describe(_ v: Any) -> String {
        if let a = v as? [Any] { return a.map(describe).joined(separator: ",") }
        return "\(v)"
    }

    /// The same facts for scripts.
    public static func json(_ dir: String, now: Double) -> String {
        guard let s = RunSummary.read(dir) else { return "{}" }
        let attempts: [[String: Any]] = rows(dir, summary: s, now: now).map { r in
            var o: [String: Any] = ["attempt": r.attempt, "nodes": r.nodes, "ranks": r.ranks, "outcome": r.outcome, "lost": r.lost]
            if let sec = r.seconds { o["seconds"] = sec }
            return o
        }
        var o: [String: Any] = ["run_dir": dir, "kind": s.kind.rawValue, "state": s.state.rawValue, "progress": s.progress,
                                "attempts": attempts]
        if let pid = s.headPID { o["head_pid"] = Int(pid) }
        if let nodes = try? LaunchStore.reading(dir)?.nodes(), !nodes.isEmpty {
            o["nodes"] = nodes.map { r -> [String: Any] in
                var n: [String: Any] = ["name": r.name, "state": r.state.rawValue, "attempt": r.attempt, "since": r.since]
                if let how = r.signal { n["how"] = how.rawValue }
                if let cause = r.cause { n["cause"] = cause }
                return n
            }
        }
        if let c = LaunchRunFiles.consumed(dir) { o["consumed"] = c }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
