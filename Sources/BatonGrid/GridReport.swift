import BatonRuns
import BatonSystem
import Foundation

/// `baton grid results` and `status`: what a run directory's store says, as text, JSON or CSV.
public enum GridReport {
    /// One config's outcome, as `results` lists it.
    public struct Result: Sendable {
        public var id: String
        public var params: [(String, GridValue)]
        public var status: GridConfigStatus
        var attempts: Int
        /// Nodes of each attempt, in order.
        var nodes: [[String]]
        /// Whether an attempt started from a checkpoint (BATON_RESUME=1).
        var resumed: Bool
        /// Whether a lost node's attempt was handed to another node.
        var handedOff: Bool
        var metrics: [String: Double]
        var objective: Double?
        public var lastOutput: String?
        /// The early-stopping rule's last decision about it (nil under fifo, or none yet).
        var decision: GridProgressRecord?
        /// The rule's time attribute, for the rung's text.
        var timeAttr = "step"
    }

    /// The run's objective, from the spec its store keeps decoded (`GridSpecRecord`).
    public static func objective(_ meta: [String: String]) -> GridObjective? {
        GridSpecRecord.read(meta)?.objective
    }

    /// Configs sorted by the objective, best first; configs without it (failed, pending)
    /// after, in expansion order.
    public static func results(_ snap: GridSnapshot) -> [Result] {
        let objective = objective(snap.meta)
        let rows = snap.configs.map { c in
            Result(
                id: c.id, params: c.params, status: c.status, attempts: c.attempts,
                nodes: c.attemptRecords.map(\.nodes), resumed: c.attemptRecords.contains { $0.resumed },
                handedOff: c.attemptRecords.contains { $0.status == .lost || $0.status == .orphaned },
                metrics: c.metrics, objective: objective.flatMap { c.status == .done ? c.metrics[$0.metric] : nil },
                lastOutput: c.lastOutput, decision: c.decisions.last, timeAttr: earlyStop(snap.meta)?.timeAttr ?? "step")
        }
        let order = Dictionary(uniqueKeysWithValues: snap.configs.map { ($0.id, $0.position) })
        let sign: Double = objective?.mode == .min ? 1 : -1
        return rows.sorted { a, b in
            switch (a.objective, b.objective) {
            case let (x?, y?) where x != y: return sign * x < sign * y
            case (.some, nil): return true
            case (nil, .some): return false
            default:
                // Done, then running and pending, then stopped early, then failed.
                let rank: [GridConfigStatus: Int] = [.done: 0, .running: 1, .pending: 1, .stopped: 2, .failed: 3]
                let ra = rank[a.status]!, rb = rank[b.status]!
                if ra != rb { return ra < rb }
                return order[a.id]! < order[b.id]!
            }
        }
    }

    public static func json(_ rows: [Result]) -> String {
        let list: [[String: Any]] = rows.map { r in
            var params: [String: Any] = [:]
            for (k, v) in r.params { params[k] = v.jsonObject }
            var o: [String: Any] = [
                "id": r.id, "params": params, "status": r.status.rawValue, "attempts": r.attempts, "nodes": r.nodes,
                "resumed": r.resumed, "handed_off": r.handedOff, "metrics": r.metrics,
            ]
            if let v = r.objective { o["objective"] = v }
            if r.status == .failed, let out = r.lastOutput { o["last_output"] = out }
            if let d = r.decision {
                o["rung"] = d.rung ?? NSNull()
                o["milestone"] = d.milestone ?? d.time
                o["decision"] = d.decision?.rawValue ?? NSNull()
                o["cutoff"] = d.cutoff ?? NSNull()
                o["reason"] = d.reason ?? NSNull()
            }
            return o
        }
        let data = try! JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    public static func csv(_ rows: [Result]) -> String {
        let paramNames = orderedUnion(rows.map { $0.params.map(\.0) })
        let metricNames = orderedUnion(rows.map { $0.metrics.keys.sorted() })
        func field(_ s: String) -> String {
            s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        // The rung and decision columns only for a run with early stopping.
        let decided = rows.contains { $0.decision != nil }
        let ruleColumns = decided ? ["rung", "decision"] : []
        var lines = [(["id", "status", "attempts", "resumed", "handed_off", "nodes"] + ruleColumns + paramNames + metricNames)
            .map(field).joined(separator: ",")]
        for r in rows {
            let p = Dictionary(r.params, uniquingKeysWith: { a, _ in a })
            var cols = [r.id, r.status.rawValue, String(r.attempts), String(r.resumed), String(r.handedOff),
                r.nodes.map { $0.joined(separator: "+") }.joined(separator: " ")]
            if decided { cols += [r.decision.map { rungText($0, timeAttr: r.timeAttr) } ?? "", r.decision?.decision?.rawValue ?? ""] }
            cols += paramNames.map { p[$0]?.description ?? "" }
            cols += metricNames.map { r.metrics[$0].map(GridFormat.metric) ?? "" }
            lines.append(cols.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func orderedUnion(_ lists: [[String]]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for l in lists { for x in l where seen.insert(x).inserted { out.append(x) } }
        return out
    }

    public static func table(_ rows: [Result], objective: GridObjective?, limit: Int? = nil) -> String {
        var header = ["#", "id", "status"]
        if let o = objective { header.append("\(o.metric) (\(o.mode.rawValue))") }
        let decided = rows.contains { $0.decision != nil }
        if decided { header += ["rung", "decision"] }
        header += ["attempts", "nodes", "params"]
        var body: [[String]] = []
        for (i, r) in rows.prefix(limit ?? rows.count).enumerated() {
            var row = [String(i + 1), r.id, r.status.rawValue]
            if objective != nil { row.append(r.objective.map(GridFormat.metric) ?? "-") }
            if decided {
                row += [r.decision.map { rungText($0, timeAttr: r.timeAttr) } ?? "-", r.decision.map(decisionText) ?? "-"]
            }
            var attempts = String(r.attempts)
            if r.handedOff { attempts += " handed-off" } else if r.resumed { attempts += " resumed" }
            row += [attempts, r.nodes.map { $0.joined(separator: "+") }.joined(separator: ">"),
                r.params.map { "\($0.0)=\($0.1)" }.joined(separator: " ")]
            body.append(row)
        }
        var text = columns([header] + body)
        if let limit, rows.count > limit { text += "... \(rows.count - limit) more (baton grid results)\n" }
        return text
    }

    public static func columns(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// `baton grid status --json`: the same facts for scripts.
    public static func statusJSON(_ snap: GridSnapshot, runDir: String, headPID: Int32?, now: Double) -> String {
        var counts: [String: Int] = ["pending": 0, "running": 0, "done": 0, "failed": 0, "stopped": 0]
        for c in snap.configs { counts[c.status.rawValue, default: 0] += 1 }
        var byNode: [String: (GridConfigRecord, GridAttemptRecord)] = [:]
        for c in snap.configs {
            for a in c.attemptRecords where a.status == .running { for n in a.nodes { byNode[n] = (c, a) } }
        }
        let nodes: [[String: Any]] = snap.nodes.map { n in
            var o: [String: Any] = ["name": n.name, "state": n.state.rawValue, "losses": n.losses]
            if let (c, a) = byNode[n.name] {
                o["config"] = c.id
                o["attempt"] = a.number
                o["running_for"] = now - a.startedAt
                if let s = a.session { o["session"] = s }
                if let d = c.decisions.last {
                    o["rung"] = d.rung ?? NSNull()
                    o["decision"] = d.reason ?? NSNull()
                }
            }
            return o
        }
        var o: [String: Any] = [
            "run_dir": runDir, "configs": counts, "total": snap.configs.count, "nodes": nodes,
            "events": snap.recentEvents.map { ["time": $0.time, "kind": $0.kind.rawValue, "text": $0.text] },
        ]
        if let headPID { o["head_pid"] = headPID }
        let data = try! JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// `baton grid status`: counts, nodes, running attempts, recent events.
    public static func status(_ snap: GridSnapshot, runDir: String, headPID: Int32?, now: Double) -> String {
        var pending = 0, running = 0, done = 0, failed = 0, stopped = 0
        for c in snap.configs {
            switch c.status {
            case .pending: pending += 1
            case .running: running += 1
            case .done: done += 1
            case .failed: failed += 1
            case .stopped: stopped += 1
            }
        }
        var out = "grid \(runDir)\n"
        out += "spec \(snap.meta["spec_path"] ?? "?"), hosts \(snap.meta["host_source"] ?? "?"), "
        out += headPID.map { "head running (pid \($0))" } ?? "no head running"
        out += "\n"
        out += "configs: \(done) done, \(running) running, \(pending) pending, \(failed) failed"
            + (stopped > 0 ? ", \(stopped) stopped early" : "") + " (of \(snap.configs.count))\n"
        var healthy = 0, suspect = 0, dead = 0
        for n in snap.nodes {
            switch n.state {
            case .healthy: healthy += 1
            case .suspect: suspect += 1
            case .dead: dead += 1
            }
        }
        out += "nodes: \(healthy) healthy, \(suspect) suspect, \(dead) dead\n\n"
        var byNode: [String: (GridConfigRecord, GridAttemptRecord)] = [:]
        for c in snap.configs {
            for a in c.attemptRecords where a.status == .running { for n in a.nodes { byNode[n] = (c, a) } }
        }
        let rule = earlyStop(snap.meta)
        var rows = [["node", "state", "losses", "config", "attempt", "running for"] + (rule == nil ? [] : ["rung", "decision"])
            + ["session (kill -- -N)"]]
        for n in snap.nodes {
            let r = byNode[n.name]
            var row = [
                n.name, n.state.rawValue, String(n.losses), r?.0.id ?? "-", r.map { String($0.1.number) } ?? "-",
                r.map { formatDuration(now - $0.1.startedAt) } ?? "-",
            ]
            if let rule {
                let d = r?.0.decisions.last
                row += [d.map { rungText($0, timeAttr: rule.timeAttr) } ?? "-", d.map(decisionText) ?? "-"]
            }
            rows.append(row + [r?.1.session.map(String.init) ?? "-"])
        }
        out += columns(rows)
        if !snap.recentEvents.isEmpty {
            out += "\nrecent events:\n"
            let t0 = Double(snap.meta["created_at"] ?? "") ?? snap.recentEvents[0].time
            for e in snap.recentEvents { out += "  [+\(formatDuration(max(0, e.time - t0)))] \(e.text)\n" }
        }
        return out
    }
}
