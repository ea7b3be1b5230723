import BatonGrid
import BatonLaunch
import BatonProtocol
import BatonRuns
import Foundation

/// A picture of a run (`baton report RUN --svg FILE`): a lane per node with a bar per attempt
/// (a grid config's attempt on its node, or a launch attempt on each of its nodes), the lost
/// nodes, hand-offs and restarts marked, and below it the curve of one metric per config
/// (grid) or of rank 0 per attempt (launch). Read from the run directory only.
public struct RunTimeline: Sendable {
    struct Bar: Sendable {
        var node: String
        var start: Double
        var end: Double
        var label: String
        /// done, failed, lost, stopped, running, head lost.
        var status: String
    }

    enum MarkKind: String, Sendable { case lost, handoff, restart, resume, hang }

    struct Mark: Sendable {
        var kind: MarkKind
        var time: Double
        /// The lane (lost), or where the hand-off went from and to.
        var node: String?
        var toNode: String?
        var toTime: Double?
        var text: String
    }

    struct Curve: Sendable {
        var name: String
        var points: [(x: Double, y: Double)]
        /// Where the grid's early-stopping rule stopped it, and why.
        var stop: (x: Double, y: Double, reason: String)?
    }

    var title: String
    var nodes: [String] = []
    var bars: [Bar] = []
    var marks: [Mark] = []
    public var metric: String?
    var curves: [Curve] = []
    /// The curves' x axis: `step`, or a grid scheduler's time attribute.
    var xAxis = "step"
    /// The ASHA rungs decisions were made at (x values), drawn across the curves.
    var rungs: [Double] = []
    /// Wall-clock start of the run (seconds since 1970); bar and mark times are relative to it.
    var origin: Double = 0

    // MARK: reading runs

    /// The timeline of the run in `dir` (launch or grid), as of `now`.
    public static func read(_ dir: String, now: Double) -> RunTimeline? {
        guard let s = RunSummary.read(dir) else { return nil }
        return s.kind == .grid ? grid(dir, now: now) : launch(dir, now: now)
    }

    static func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }

    static func launch(_ dir: String, now: Double) -> RunTimeline {
        var t = RunTimeline(title: "launch \(dir)")
        let events = LaunchRunFiles.events(dir)
        t.origin = number(events.first?["time"]) ?? now
        var starts: [Int: (time: Double, nodes: [String])] = [:]
        var ends: [Int: (time: Double, outcome: AttemptOutcome?)] = [:]
        for e in events {
            let time = (number(e["time"]) ?? t.origin) - t.origin
            let attempt = (e["attempt"] as? NSNumber)?.intValue ?? 0
            switch LaunchEventKind.of(e) {
            case .attemptStart?: starts[attempt] = (time, e["nodes"] as? [String] ?? [])
            case .attemptEnd?: ends[attempt] = (time, (e["outcome"] as? String).flatMap(AttemptOutcome.init(rawValue:)))
            case .nodeLost?:
                for n in e["nodes"] as? [String] ?? [] {
                    t.marks.append(Mark(kind: .lost, time: time, node: n, text: "\(n) lost (\(e["how"] as? String ?? "?"))"))
                }
            case .restart?: t.marks.append(Mark(kind: .restart, time: time, text: "restart: attempt \(attempt)"))
            case .hang?:
                let n = e["node"] as? String
                t.marks.append(Mark(kind: .hang, time: time, node: n, text: "rank \((e["rank"] as? NSNumber)?.intValue ?? -1) hung"))
            case .resume?: t.marks.append(Mark(kind: .resume, time: time, text: "resumed: attempt \(attempt)"))
            case .spareIn?:
                // A spare taking a lost node's place is drawn as a hand-off from its lane.
                if let spare = e["node"] as? String, let from = e["replacing"] as? String {
                    t.marks.append(Mark(kind: .handoff, time: time, node: from, toNode: spare, toTime: time,
                                        text: "spare \(spare) for \(from) (attempt \(attempt))"))
                }
            default: break
            }
        }
        let running = RunSummary.read(dir)?.state == .running
        for (a, s) in starts.sorted(by: { $0.key < $1.key }) {
            for n in s.nodes where !t.nodes.contains(n) { t.nodes.append(n) }
            let next = starts.filter { $0.key > a }.map(\.value.time).min()
            let end = ends[a]
            let status: String
            switch end.map(\.outcome) {
            case .completed??: status = "done"
            case .nodesLost??: status = "lost"
            case .interrupted??, .grow??: status = "stopped"
            case nil: status = running && next == nil ? "running" : "head lost"
            default: status = "failed"
            }
            let stop = end?.time ?? next ?? (now - t.origin)
            for n in s.nodes {
                t.bars.append(Bar(node: n, start: s.time, end: stop, label: "attempt \(a)", status: status))
            }
        }
        // Rank 0's metric over the run, one curve per attempt: the lines the head committed
        // to the store (a run made before the store has its rank 0's files imported there).
        let store = LaunchStore.reading(dir)
        for a in LaunchRunFiles.attemptNumbers(dir) {
            let rows = metricRows(lines: ((try? store?.metricLines(attempt: a)) ?? nil) ?? [])
            if t.metric == nil { t.metric = chooseMetric(rows, preferred: nil) }
            if let m = t.metric {
                let pts = rows.enumerated().compactMap { i, r in r[m].map { (x: r["step"] ?? Double(i), y: $0) } }
                if !pts.isEmpty { t.curves.append(Curve(name: "attempt \(a)", points: pts)) }
            }
        }
        return t
    }

    static func grid(_ dir: String, now: Double) -> RunTimeline {
        var t = RunTimeline(title: "grid \(dir)")
        guard let store = try? GridStore(runDir: dir, readOnly: true), let snap = try? store.snapshot(events: 100_000) else { return t }
        t.nodes = snap.nodes.sorted { $0.position < $1.position }.map(\.name)
        let firstStart = snap.configs.flatMap(\.attemptRecords).map(\.startedAt).min()
        t.origin = Double(snap.meta["created_at"] ?? "") ?? firstStart ?? now
        for c in snap.configs {
            let attempts = c.attemptRecords.sorted { $0.number < $1.number }
            for (i, a) in attempts.enumerated() {
                let end = (a.endedAt ?? now) - t.origin
                for n in a.nodes {
                    t.bars.append(Bar(node: n, start: a.startedAt - t.origin, end: end, label: "\(c.id)#\(a.number)", status: a.status.rawValue))
                }
                // A hand-off: the next attempt of a config whose attempt was lost, on another node.
                if a.status == .lost, i + 1 < attempts.count {
                    let b = attempts[i + 1]
                    t.marks.append(Mark(kind: .handoff, time: end, node: a.nodes.first, toNode: b.nodes.first,
                                        toTime: b.startedAt - t.origin,
                                        text: "\(c.id) handed off \(a.nodes.first ?? "?") → \(b.nodes.first ?? "?")"))
                }
            }
        }
        for e in snap.recentEvents where e.kind == .nodeLost {
            t.marks.append(Mark(kind: .lost, time: e.time - t.origin, node: e.node, text: "\(e.node ?? "?") lost"))
        }
        // The objective's curve of each config (its attempts joined by step, or by the
        // early-stopping rule's time attribute), a stopped config's marked where it stopped.
        let preferred = GridReport.objective(snap.meta)?.metric
        let rule = GridSpecRecord.read(snap.meta)?.earlyStop
        if let rule { t.xAxis = rule.timeAttr }
        t.rungs = Set(snap.configs.flatMap { $0.decisions.filter { $0.rung != nil }.compactMap(\.milestone) }).sorted()
        for c in snap.configs.sorted(by: { $0.position < $1.position }).prefix(40) {
            var rows: [[String: Double]] = []
            for a in c.attemptRecords.sorted(by: { $0.number < $1.number }) {
                rows += metricRows(RunDirectory(dir).configAttemptMetrics(c.id, attempt: a.number))
            }
            if t.metric == nil { t.metric = chooseMetric(rows, preferred: preferred) }
            if let m = t.metric {
                let pts = rows.enumerated().compactMap { i, r in r[m].map { (x: r[t.xAxis] ?? Double(i), y: $0) } }
                let stop = c.decisions.last { $0.decision == .stop }.map { (x: $0.time, y: $0.value, reason: $0.reason ?? "stopped") }
                if !pts.isEmpty { t.curves.append(Curve(name: c.id, points: pts, stop: c.status == .stopped ? stop : nil)) }
            }
        }
        return t
    }

    /// The numeric fields of every JSON line of a metrics file.
    static func metricRows(_ path: String) -> [[String: Double]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return metricRows(lines: text.split(separator: "\n").map(String.init))
    }

    static func metricRows(lines: [String]) -> [[String: Double]] {
        lines.compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            var r: [String: Double] = [:]
            for (k, v) in o { if let n = v as? NSNumber, !(v is Bool) { r[k] = n.doubleValue } }
            return r
        }
    }

    /// The metric to draw: the objective if the rows have it, else loss, else the first
    /// field that is not bookkeeping (step, epoch, consumed, time), else consumed.
    static func chooseMetric(_ rows: [[String: Double]], preferred: String?) -> String? {
        let keys = Set(rows.flatMap(\.keys))
        if let p = preferred, keys.contains(p) { return p }
        if keys.contains("loss") { return "loss" }
        let book: Set<String> = ["step", "epoch", "consumed", "time"]
        return keys.subtracting(book).sorted().first ?? (keys.contains("consumed") ? "consumed" : nil)
    }

    // MARK: drawing

    static let colors: [String: String] = [
        "done": "#4caf50", "failed": "#e53935", "lost": "#fb8c00", "stopped": "#9e9e9e",
        "running": "#1e88e5", "head lost": "#8e24aa",
    ]
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// A step of 1, 2 or 5 times a power of ten giving about `count` ticks over `span`.
    static func tickStep(_ span: Double, count: Double = 8) -> Double {
        guard span > 0 else { return 1 }
        let raw = span / count
        let p = pow(10, floor(log10(raw)))
        return [1, 2, 5, 10].map { $0 * p }.first { $0 >= raw } ?? 10 * p
    }

    /// The SVG document.
    /// What the picture holds, in one line: `3 nodes, 4 attempt bars, 1 lost, ...`.
    public var caption: String {
        func count(_ kind: MarkKind) -> Int { marks.filter { $0.kind == kind }.count }
        return "\(nodes.count) nodes, \(bars.count) attempt bars, \(count(.lost)) lost, "
            + "\(count(.handoff)) hand-offs, \(count(.restart)) restarts, \(count(.hang)) hangs, \(curves.count) curves"
            + (metric.map { " of \($0)" } ?? "")
            + (curves.contains { $0.stop != nil } ? ", \(curves.filter { $0.stop != nil }.count) stopped early" : "")
            + (rungs.isEmpty ? "" : ", \(rungs.count) rungs")
    }

    public func svg() -> String {
        let width = 1000.0, left = 120.0, right = 20.0, lane = 24.0, top = 46.0
        let plotW = width - left - right
        let tEnd = max(1, (bars.map(\.end) + marks.map { max($0.time, $0.toTime ?? 0) }).max() ?? 1)
        func x(_ t: Double) -> Double { left + plotW * max(0, t) / tEnd }
        func y(_ node: String?) -> Double { top + lane * Double(nodes.firstIndex(of: node ?? "") ?? 0) }
        let timelineH = lane * Double(max(nodes.count, 1))
        let curveTop = top + timelineH + 70, curveH = 200.0
        let hasCurves = !curves.isEmpty
        let height = hasCurves ? curveTop + curveH + 60 + 16 * Double(min(curves.count, 10) / 5 + 1) : top + timelineH + 60
        var o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        o += "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(Self.esc(title))</text>\n"
        // Legend of bar colours.
        var lx = width - right - 6 * 72
        for k in ["done", "running", "lost", "failed", "stopped", "head lost"] {
            o += "<rect x=\"\(Self.f(lx))\" y=\"8\" width=\"10\" height=\"10\" fill=\"\(Self.colors[k]!)\"/><text x=\"\(Self.f(lx + 14))\" y=\"17\">\(k)</text>\n"
            lx += 72
        }
        // Lanes and the time axis.
        for (i, n) in nodes.enumerated() {
            let ly = top + lane * Double(i)
            if i % 2 == 0 { o += "<rect x=\"\(Self.f(left))\" y=\"\(Self.f(ly))\" width=\"\(Self.f(plotW))\" height=\"\(Self.f(lane))\" fill=\"#f5f5f5\"/>\n" }
            o += "<text x=\"\(Self.f(left - 6))\" y=\"\(Self.f(ly + lane * 0.65))\" text-anchor=\"end\">\(Self.esc(n))</text>\n"
        }
        let step = Self.tickStep(tEnd)
        var tick = 0.0
        while tick <= tEnd + 1e-9 {
            o += "<line x1=\"\(Self.f(x(tick)))\" y1=\"\(Self.f(top))\" x2=\"\(Self.f(x(tick)))\" y2=\"\(Self.f(top + timelineH + 4))\" stroke=\"#ddd\"/>"
            o += "<text x=\"\(Self.f(x(tick)))\" y=\"\(Self.f(top + timelineH + 16))\" text-anchor=\"middle\">\(Self.f(tick)) s</text>\n"
            tick += step
        }
        // Attempts.
        for b in bars {
            let bx = x(b.start), bw = max(1.5, x(b.end) - bx), by = y(b.node) + 3
            o += "<rect class=\"attempt \(b.status.replacingOccurrences(of: " ", with: "-"))\" x=\"\(Self.f(bx))\" y=\"\(Self.f(by))\" width=\"\(Self.f(bw))\" height=\"\(Self.f(lane - 6))\" fill=\"\(Self.colors[b.status] ?? "#607d8b")\" stroke=\"white\"><title>\(Self.esc("\(b.label) on \(b.node): \(b.status), \(Self.f(b.start))–\(Self.f(b.end)) s"))</title></rect>\n"
            if bw > Double(b.label.count) * 6 + 6 {
                o += "<text x=\"\(Self.f(bx + 3))\" y=\"\(Self.f(by + lane * 0.5))\" fill=\"white\">\(Self.esc(b.label))</text>\n"
            }
        }
        // Restarts and resumes across every lane; lost nodes; hand-offs.
        for m in marks {
            switch m.kind {
            case .restart, .resume:
                o += "<g class=\"\(m.kind.rawValue)\"><line x1=\"\(Self.f(x(m.time)))\" y1=\"\(Self.f(top - 4))\" x2=\"\(Self.f(x(m.time)))\" y2=\"\(Self.f(top + timelineH))\" stroke=\"#333\" stroke-dasharray=\"4,3\"/>"
                o += "<text x=\"\(Self.f(x(m.time) + 3))\" y=\"\(Self.f(top - 6))\">\(Self.esc(m.text))</text></g>\n"
            case .hang:
                let cx = x(m.time), cy = y(m.node) + lane / 2
                o += "<g class=\"hang\"><circle cx=\"\(Self.f(cx))\" cy=\"\(Self.f(cy))\" r=\"6\" fill=\"none\" stroke=\"#e65100\" stroke-width=\"3\"/>"
                o += "<text x=\"\(Self.f(cx + 9))\" y=\"\(Self.f(cy + 4))\" fill=\"#e65100\" font-weight=\"bold\">\(Self.esc(m.text))</text></g>\n"
            case .lost:
                let cx = x(m.time), cy = y(m.node) + lane / 2
                o += "<g class=\"lost\"><path d=\"M\(Self.f(cx - 6)),\(Self.f(cy - 6)) L\(Self.f(cx + 6)),\(Self.f(cy + 6)) M\(Self.f(cx + 6)),\(Self.f(cy - 6)) L\(Self.f(cx - 6)),\(Self.f(cy + 6))\" stroke=\"#b71c1c\" stroke-width=\"3\"/>"
                o += "<text x=\"\(Self.f(cx + 9))\" y=\"\(Self.f(cy + 4))\" fill=\"#b71c1c\" font-weight=\"bold\">\(Self.esc(m.text))</text></g>\n"
            case .handoff:
                let x1 = x(m.time), y1 = y(m.node) + lane / 2, x2 = x(m.toTime ?? m.time), y2 = y(m.toNode) + lane / 2
                o += "<g class=\"handoff\"><path d=\"M\(Self.f(x1)),\(Self.f(y1)) C\(Self.f(x1 + 20)),\(Self.f(y1)) \(Self.f(x2 - 20)),\(Self.f(y2)) \(Self.f(x2)),\(Self.f(y2))\" fill=\"none\" stroke=\"#311b92\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/>"
                o += "<circle cx=\"\(Self.f(x2))\" cy=\"\(Self.f(y2))\" r=\"3.5\" fill=\"#311b92\"/><title>\(Self.esc(m.text))</title></g>\n"
            }
        }
        // Metric curves.
        if hasCurves, let metric {
            let pts = curves.flatMap(\.points)
            let x0 = pts.map(\.x).min() ?? 0, x1 = max(x0 + 1e-9, pts.map(\.x).max() ?? 1)
            var y0 = pts.map(\.y).min() ?? 0, y1 = pts.map(\.y).max() ?? 1
            if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
            func cxp(_ v: Double) -> Double { left + plotW * (v - x0) / (x1 - x0) }
            func cyp(_ v: Double) -> Double { curveTop + curveH - curveH * (v - y0) / (y1 - y0) }
            o += "<text x=\"10\" y=\"\(Self.f(curveTop - 14))\" font-size=\"13\" font-weight=\"bold\">\(Self.esc(metric)) by \(Self.esc(xAxis))</text>\n"
            for (k, r) in rungs.enumerated() where r >= x0 && r <= x1 {
                o += "<g class=\"rung\"><line x1=\"\(Self.f(cxp(r)))\" y1=\"\(Self.f(curveTop))\" x2=\"\(Self.f(cxp(r)))\" y2=\"\(Self.f(curveTop + curveH))\" stroke=\"#bbb\" stroke-dasharray=\"4,3\"/>"
                o += "<text x=\"\(Self.f(cxp(r) + 3))\" y=\"\(Self.f(curveTop + 11))\" fill=\"#888\">rung \(k)</text></g>\n"
            }
            o += "<rect x=\"\(Self.f(left))\" y=\"\(Self.f(curveTop))\" width=\"\(Self.f(plotW))\" height=\"\(Self.f(curveH))\" fill=\"none\" stroke=\"#999\"/>\n"
            for v in [y0, (y0 + y1) / 2, y1] {
                o += "<text x=\"\(Self.f(left - 6))\" y=\"\(Self.f(cyp(v) + 4))\" text-anchor=\"end\">\(String(format: "%.4g", v))</text>\n"
            }
            for v in [x0, (x0 + x1) / 2, x1] {
                o += "<text x=\"\(Self.f(cxp(v)))\" y=\"\(Self.f(curveTop + curveH + 14))\" text-anchor=\"middle\">\(String(format: "%.4g", v))</text>\n"
            }
            for (i, c) in curves.enumerated() {
                let colour = Self.palette[i % Self.palette.count]
                let path = c.points.map { "\(Self.f(cxp($0.x))),\(Self.f(cyp($0.y)))" }.joined(separator: " ")
                // A stopped config's curve is dashed and ends in an X where the rule stopped it.
                let dash = c.stop == nil ? "" : " stroke-dasharray=\"3,2\""
                o += "<polyline class=\"curve\" points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\"\(dash)><title>\(Self.esc(c.name))</title></polyline>\n"
                if let stop = c.stop {
                    let (sx, sy) = (cxp(stop.x), cyp(stop.y))
                    o += "<g class=\"stopped\"><path d=\"M\(Self.f(sx - 4)),\(Self.f(sy - 4)) L\(Self.f(sx + 4)),\(Self.f(sy + 4)) M\(Self.f(sx - 4)),\(Self.f(sy + 4)) L\(Self.f(sx + 4)),\(Self.f(sy - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
                    o += "<title>\(Self.esc(c.name)) \(Self.esc(stop.reason))</title></g>\n"
                }
                if i < 10 {
                    let lx = left + Double(i % 5) * 170, ly = curveTop + curveH + 32 + Double(i / 5) * 16
                    o += "<rect x=\"\(Self.f(lx))\" y=\"\(Self.f(ly - 9))\" width=\"14\" height=\"3\" fill=\"\(colour)\"/><text x=\"\(Self.f(lx + 18))\" y=\"\(Self.f(ly - 4))\">\(Self.esc(c.name))</text>\n"
                }
            }
            if curves.count > 10 {
                o += "<text x=\"\(Self.f(left))\" y=\"\(Self.f(height - 6))\">… and \(curves.count - 10) more</text>\n"
            }
        }
        o += "</svg>\n"
        return o
    }
}
