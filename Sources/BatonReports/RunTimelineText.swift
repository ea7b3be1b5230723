import Foundation

/// The timeline of `RunTimeline` for a terminal (`baton status RUN --watch`): the same lanes,
/// attempts and marks as the SVG, one character per time slice.
///
///     time 0 s ............................................... 42.5 s
///     restarts          |
///     local-1  #########X
///     local-2  ######## ##########>>>>>
///
/// A slice shows the attempt that covers most of it, by how it ended: `#` done, `>` running,
/// `~` lost, `x` failed, `.` stopped, `?` head lost; `X` is where a node was lost, `|` above
/// the lanes a restart or resume. Hand-offs are listed below the lanes (a column cannot draw
/// a curve). With `color`, slices are also coloured like the SVG's bars.
extension RunTimeline {
    static let textSymbols: [String: Character] = [
        "done": "#", "running": ">", "lost": "~", "failed": "x", "stopped": ".", "head lost": "?",
    ]
    static let ansi: [String: String] = [
        "done": "32", "running": "34", "lost": "33", "failed": "31", "stopped": "90", "head lost": "35",
    ]

    /// The text picture, `width` columns wide at most, at most `maxLanes` node lanes (the
    /// nodes with most attempts first when there are more, named in a last line).
    public func text(width: Int = 100, color: Bool = false, maxLanes: Int = 32) -> String {
        let labelW = min(24, max(8, (nodes.map(\.count).max() ?? 4) + 1))
        let cols = max(10, width - labelW - 1)
        let tEnd = max(1e-6, (bars.map(\.end) + marks.map { max($0.time, $0.toTime ?? 0) }).max() ?? 1)
        let slice = tEnd / Double(cols)
        func col(_ t: Double) -> Int { min(cols - 1, max(0, Int(t / slice))) }
        func pad(_ s: String) -> String {
            s.count >= labelW ? String(s.prefix(labelW - 1)) + " " : s + String(repeating: " ", count: labelW - s.count)
        }
        func paint(_ c: Character, _ status: String?) -> String {
            guard color, let s = status, let code = Self.ansi[s] else { return String(c) }
            return "\u{1B}[\(code)m\(c)\u{1B}[0m"
        }

        var lines: [String] = []
        let endText = "\(Self.f(tEnd)) s"
        let dots = max(1, cols - 4 - endText.count)
        lines.append(pad("time") + "0 s " + String(repeating: ".", count: dots - 1) + " " + endText)
        let restarts = marks.filter { $0.kind == .restart || $0.kind == .resume }
        if !restarts.isEmpty {
            var row = [Character](repeating: " ", count: cols)
            for m in restarts { row[col(m.time)] = "|" }
            lines.append(pad("restarts") + String(row))
        }

        var shown = nodes
        if shown.count > maxLanes {
            let count = Dictionary(grouping: bars, by: \.node).mapValues(\.count)
            let keep = Set(shown.sorted { (count[$0] ?? 0, $1) > (count[$1] ?? 0, $0) }.prefix(maxLanes))
            shown = shown.filter { keep.contains($0) }
        }
        for n in shown {
            // Per slice, the status of the bar covering most of it.
            var cover = [(status: String, share: Double)?](repeating: nil, count: cols)
            for b in bars where b.node == n && b.end >= b.start {
                let first = col(b.start), last = col(max(b.start, b.end - 1e-9))
                for c in first...last {
                    let lo = max(b.start, Double(c) * slice), hi = min(b.end, Double(c + 1) * slice)
                    let share = max(hi - lo, 1e-12)
                    if share > (cover[c]?.share ?? -1) { cover[c] = (b.status, share) }
                }
            }
            var cells = cover.map { c -> String in
                guard let c else { return " " }
                return paint(Self.textSymbols[c.status] ?? "=", c.status)
            }
            for m in marks where m.kind == .lost && m.node == n {
                cells[col(m.time)] = color ? "\u{1B}[1;31mX\u{1B}[0m" : "X"
            }
            lines.append(pad(n) + cells.joined())
        }
        if shown.count < nodes.count {
            lines.append("… and \(nodes.count - shown.count) more nodes (`baton report RUN --svg FILE` draws every lane)")
        }
        let legend = ["done", "running", "lost", "failed", "stopped", "head lost"]
            .map { "\(Self.textSymbols[$0]!) \($0)" }.joined(separator: "  ")
        lines.append(pad("") + legend + "  X node lost  | restart")
        // The hand-offs and restarts in time order, the last 10 when there are more.
        let listed = (marks.filter { $0.kind == .handoff } + restarts).sorted { $0.time < $1.time }
        if listed.count > 10 { lines.append(pad("") + "… \(listed.count - 10) earlier hand-offs and restarts") }
        for m in listed.suffix(10) {
            lines.append(pad("") + "\(m.text) at \(Self.f(m.time)) s")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
