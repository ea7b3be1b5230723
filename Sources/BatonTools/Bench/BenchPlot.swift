import BatonSupport
import Foundation

/// A log-log plot of benchmark results as a self-contained SVG: message size on a
/// base-2 axis, time or bandwidth on a base-10 axis, units on every axis, one panel
/// per quantity, hover titles on every point and the headline figure written out.
public struct BenchPlot: Sendable {
    struct Point: Sendable, Equatable {
        var size: Int
        var value: Double
        /// Optional spread (min and max over ranks) drawn as a shaded band.
        var low: Double?
        var high: Double?
        init(size: Int, value: Double, low: Double? = nil, high: Double? = nil) {
            self.size = size
            self.value = value
            self.low = low
            self.high = high
        }
    }

    struct Series: Sendable {
        var name: String
        var color: String
        var points: [Point]
        var dashed: Bool
        init(name: String, color: String, points: [Point], dashed: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
        }
    }

    public struct Panel: Sendable {
        var title: String
        /// The quantity and its unit, e.g. "latency (µs)".
        var axisLabel: String
        var unit: String
        var series: [Series]
        /// Which figure to call out: the highest (bandwidth) or the lowest (latency).
        var highlightHighest: Bool
        init(title: String, axisLabel: String, unit: String, series: [Series], highlightHighest: Bool) {
            self.title = title
            self.axisLabel = axisLabel
            self.unit = unit
            self.series = series
            self.highlightHighest = highlightHighest
        }
    }

    var title: String
    var subtitle: String
    var panels: [Panel]

    public init(title: String, subtitle: String, panels: [Panel]) {
        self.title = title
        self.subtitle = subtitle
        self.panels = panels
    }

    static let blue = "#1f6fb4"
    static let orange = "#e8702a"

    // MARK: building from results

    public static func of(_ result: PointToPointResult, note: String = "") throws(BenchError) -> BenchPlot {
        let isLatency = result.test == .latency
        let points = result.rows.compactMap { row -> Point? in
            guard row.sizeBytes > 0, let v = isLatency ? row.latencyMicroseconds : row.bandwidthGBps, v > 0 else { return nil }
            return Point(size: row.sizeBytes, value: v)
        }
        guard !points.isEmpty else { throw BenchError(.badOption, "--svg: no non-zero sizes to plot; raise --max-size") }
        let panel: Panel
        switch result.test {
        case .latency:
            panel = Panel(
                title: "Latency (half round trip, lower is better)", axisLabel: "latency (µs)", unit: "µs",
                series: [Series(name: "MPI ping-pong", color: blue, points: points)], highlightHighest: false)
        case .bandwidth, .bidirectional:
            let what = result.test == .bandwidth ? "Bandwidth, one way" : "Bandwidth, both ways together"
            panel = Panel(
                title: "\(what) (higher is better)", axisLabel: "bandwidth (GB/s, 1 GB = 10⁹ B)", unit: "GB/s",
                series: [Series(name: "window of \(result.window)", color: blue, points: points)], highlightHighest: true)
        }
        let zero = result.rows.first { $0.sizeBytes == 0 }.flatMap { row in row.latencyMicroseconds.map { "0 B: \(figure($0)) µs (off the log axis)" } } ?? ""
        let subtitle = ["\(result.ranks) ranks, measured between ranks 0 and 1", "OSU method", zero, note].filter { !$0.isEmpty }.joined(separator: " · ")
        return BenchPlot(title: "baton bench \(result.test.rawValue)", subtitle: subtitle, panels: [panel])
    }

    public static func of(_ result: CollectiveResult, note: String = "") throws(BenchError) -> BenchPlot {
        guard result.kind != .barrier else { throw BenchError(.badOption, "--svg: barrier moves no data, so there is no curve to plot") }
        func series(_ inPlace: Bool, _ value: (CollectiveRow) -> Double, band: Bool) -> [Point] {
            result.rows.filter { $0.inPlace == inPlace && $0.sizeBytes > 0 && value($0) > 0 }.map {
                Point(size: $0.sizeBytes, value: value($0), low: band ? $0.timeMinMicroseconds : nil, high: band ? $0.timeMaxMicroseconds : nil)
            }
        }
        let placements: [(Bool, String, String)] =
            result.kind.hasInPlaceForm ? [(false, "out of place", blue), (true, "in place", orange)] : [(result.kind == .bcast, "", blue)]
        let times = placements.map { Series(name: $0.1.isEmpty ? "avg over ranks" : $0.1, color: $0.2, points: series($0.0, \.timeMicroseconds, band: true)) }
        let bandwidths = placements.map { Series(name: $0.1.isEmpty ? "busbw" : $0.1, color: $0.2, points: series($0.0, \.busBandwidthGBps, band: false)) }
        guard times.contains(where: { !$0.points.isEmpty }) else { throw BenchError(.badOption, "--svg: no measured sizes to plot") }
        let factor = formatFixed(result.kind.busBandwidthFactor(ranks: result.ranks), decimals: 3)
        let subtitle = [
            "\(result.ranks) ranks", "float32", "busbw = algbw × \(factor) (nccl-tests)", "band: min–max over ranks", note,
        ].filter { !$0.isEmpty }.joined(separator: " · ")
        return BenchPlot(
            title: "baton bench \(result.kind.rawValue)", subtitle: subtitle,
            panels: [
                Panel(title: "Time per call (lower is better)", axisLabel: "time per call (µs)", unit: "µs", series: times, highlightHighest: false),
                Panel(title: "Bus bandwidth (higher is better)", axisLabel: "bus bandwidth (GB/s, 1 GB = 10⁹ B)", unit: "GB/s", series: bandwidths, highlightHighest: true),
            ])
    }

    // MARK: axes

    /// Decade bounds that contain every value (and the bands), at least one decade apart.
    static func decades(_ values: [Double]) -> (low: Int, high: Int) {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        guard let lo = positive.min(), let hi = positive.max() else { return (0, 1) }
        var low = Int(log10(lo).rounded(.down))
        var high = Int(log10(hi).rounded(.up))
        if high <= low { high = low + 1 }
        // A curve squeezed against the frame is hard to read: leave a little room.
        if log10(lo) - Double(low) < 0.05 { low -= 1 }
        return (low, high)
    }

    /// Powers of two for the size axis: every one for the grid, labelled ones at most 9,
    /// counted down from the largest so the biggest message is always labelled.
    static func sizeTicks(minimum: Int, maximum: Int) -> (grid: [Int], labelled: [Int]) {
        let lo = log2Floor(max(1, minimum))
        let hi = max(lo + 1, log2Ceil(max(1, maximum)))
        let span = hi - lo
        let step = max(1, Int((Double(span) / 8).rounded(.up)))
        let grid = (lo...hi).map { 1 << $0 }
        let labelled = (lo...hi).filter { (hi - $0) % step == 0 }.map { 1 << $0 }
        return (grid, labelled)
    }

    static func log2Floor(_ n: Int) -> Int { Int.bitWidth - 1 - n.leadingZeroBitCount }
    static func log2Ceil(_ n: Int) -> Int { n <= 1 ? 0 : log2Floor(n - 1) + 1 }

    /// A tick label: 0.001 … 1 … 1000, then 10k, 100k, 1M.
    static func tickLabel(_ value: Double) -> String {
        if value >= 1e6 { return trimmed(value / 1e6) + "M" }
        if value >= 1e4 { return trimmed(value / 1e3) + "k" }
        if value < 1e-3 {
            let exponent = Int((log10(value) + 1e-9).rounded(.down))
            return trimmed((value / pow10(exponent)).rounded()) + "e\(exponent)"
        }
        return trimmed(value)
    }

    static func trimmed(_ value: Double) -> String {
        if value == value.rounded() { return String(Int64(value)) }
        var text = formatFixed(value, decimals: 6)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// A figure with three significant digits, for call-outs and hover titles.
    static func figure(_ value: Double) -> String { Figure.short(value) }

    // MARK: drawing

    static let panelWidth = 600.0
    static let panelHeight = 430.0
    static let margin = (left: 96.0, right: 24.0, top: 44.0, bottom: 58.0)
    static let header = 70.0

    public func svg() -> String {
        let width = Double(panels.count) * Self.panelWidth
        let height = Self.header + Self.panelHeight + 10
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="24" y="32" font-size="21" font-weight="bold" fill="#222">\(escape(title))</text>
            <text x="24" y="56" font-size="13" fill="#555">\(escape(subtitle))</text>

            """
        for (index, panel) in panels.enumerated() {
            out += draw(panel, originX: Double(index) * Self.panelWidth, originY: Self.header)
        }
        out += "</svg>\n"
        return out
    }

    func draw(_ panel: Panel, originX: Double, originY: Double) -> String {
        let left = originX + Self.margin.left
        let top = originY + Self.margin.top
        let plotWidth = Self.panelWidth - Self.margin.left - Self.margin.right
        let plotHeight = Self.panelHeight - Self.margin.top - Self.margin.bottom
        let allPoints = panel.series.flatMap(\.points)
        let sizes = allPoints.map(\.size)
        let (gridSizes, labelledSizes) = Self.sizeTicks(minimum: sizes.min() ?? 1, maximum: sizes.max() ?? 2)
        let xLow = log2(Double(gridSizes.first ?? 1))
        let xHigh = log2(Double(gridSizes.last ?? 2))
        let values = allPoints.flatMap { [$0.value, $0.low ?? $0.value, $0.high ?? $0.value] }
        let (yLow, yHigh) = Self.decades(values)
        func x(_ size: Int) -> Double { left + (log2(Double(size)) - xLow) / max(xHigh - xLow, 1e-9) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - (log10(value) - Double(yLow)) / Double(yHigh - yLow) * plotHeight }
        func f(_ v: Double) -> String { formatFixed(v, decimals: 1) }

        var s = "<g>\n"
        s += "<text x=\"\(f(left))\" y=\"\(f(top - 14))\" font-size=\"15\" font-weight=\"bold\" fill=\"#333\">\(escape(panel.title))</text>\n"
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"#fafbfc\" stroke=\"#c8ccd0\"/>\n"
        // Horizontal grid: every decade strong, 2..9 faint; labels at decades, plus 2 and
        // 5 when the axis spans at most two decades.
        let fewDecades = yHigh - yLow <= 2
        for decade in yLow...yHigh {
            for m in 1...9 {
                let value = Double(m) * pow10(decade)
                if decade == yHigh && m > 1 { break }
                let yy = y(value)
                let strong = m == 1
                s += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(yy))\" y2=\"\(f(yy))\" stroke=\"\(strong ? "#d5d9de" : "#eceef1")\" stroke-width=\"1\"/>\n"
                if strong || (fewDecades && (m == 2 || m == 5)) {
                    s += "<text x=\"\(f(left - 8))\" y=\"\(f(yy + 4))\" font-size=\"\(strong ? 12 : 11)\" fill=\"\(strong ? "#333" : "#777")\" text-anchor=\"end\">\(Self.tickLabel(value))</text>\n"
                }
            }
        }
        for size in gridSizes {
            let xx = x(size)
            let labelled = labelledSizes.contains(size)
            s += "<line x1=\"\(f(xx))\" x2=\"\(f(xx))\" y1=\"\(f(top))\" y2=\"\(f(top + plotHeight))\" stroke=\"\(labelled ? "#d5d9de" : "#eceef1")\" stroke-width=\"1\"/>\n"
            if labelled {
                s += "<text x=\"\(f(xx))\" y=\"\(f(top + plotHeight + 18))\" font-size=\"12\" fill=\"#333\" text-anchor=\"middle\">\(MessageSizes.label(size))</text>\n"
            }
        }
        s += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(top + plotHeight + 44))\" font-size=\"13\" fill=\"#333\" text-anchor=\"middle\">message size (bytes, log scale)</text>\n"
        let midY = top + plotHeight / 2
        s += "<text x=\"\(f(originX + 22))\" y=\"\(f(midY))\" font-size=\"13\" fill=\"#333\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(originX + 22)) \(f(midY)))\">\(escape(panel.axisLabel)), log scale</text>\n"

        // Bands first, so lines and points sit on top.
        for series in panel.series where series.points.contains(where: { $0.low != nil }) {
            let upper = series.points.map { "\(f(x($0.size))),\(f(y($0.high ?? $0.value)))" }
            let lower = series.points.reversed().map { "\(f(x($0.size))),\(f(y($0.low ?? $0.value)))" }
            s += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(series.color)\" fill-opacity=\"0.13\" stroke=\"none\"/>\n"
        }
        for series in panel.series where !series.points.isEmpty {
            let path = series.points.map { "\(f(x($0.size))),\(f(y($0.value)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2.5\" stroke-linejoin=\"round\"\(series.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for p in series.points {
                s += "<circle cx=\"\(f(x(p.size)))\" cy=\"\(f(y(p.value)))\" r=\"3.6\" fill=\"#fff\" stroke=\"\(series.color)\" stroke-width=\"2\"><title>\(escape(series.name)): \(MessageSizes.label(p.size)) → \(Self.figure(p.value)) \(panel.unit)</title></circle>\n"
            }
        }
        // Legend, top-left for bandwidth (curves rise to the right), bottom-right would
        // hide rising times, so time legends go top-left too.
        var legendY = top + 20
        for series in panel.series where !series.points.isEmpty {
            s += "<line x1=\"\(f(left + 14))\" x2=\"\(f(left + 40))\" y1=\"\(f(legendY - 4))\" y2=\"\(f(legendY - 4))\" stroke=\"\(series.color)\" stroke-width=\"3\"/>\n"
            s += "<text x=\"\(f(left + 48))\" y=\"\(f(legendY))\" font-size=\"12.5\" fill=\"#333\">\(escape(series.name))</text>\n"
            legendY += 18
        }
        // The headline figure in a box at the bottom right, which the rising curves
        // of every suite leave empty: the peak for bandwidth (over all series), the
        // smallest message for time and latency.
        let candidates = panel.series.flatMap { series in series.points.map { (series, $0) } }
        let pick: (Series, Point)? =
            panel.highlightHighest
            ? candidates.max { $0.1.value < $1.1.value }
            : panel.series.first { !$0.points.isEmpty }.map { ($0, $0.points.min { $0.size < $1.size }!) }
        if let (series, point) = pick {
            let px = x(point.size)
            let py = y(point.value)
            let which = panel.series.filter { !$0.points.isEmpty }.count > 1 ? " (\(series.name))" : ""
            let text =
                panel.highlightHighest
                ? "peak \(Self.figure(point.value)) \(panel.unit) at \(MessageSizes.label(point.size))\(which)"
                : "\(MessageSizes.label(point.size)): \(Self.figure(point.value)) \(panel.unit)\(which)"
            let boxWidth = Double(text.count) * 7.6 + 20
            let bx = left + plotWidth - boxWidth - 10
            let by = top + plotHeight - 38
            s += "<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"7\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\"/>\n"
            s += "<rect x=\"\(f(bx))\" y=\"\(f(by))\" width=\"\(f(boxWidth))\" height=\"28\" rx=\"4\" fill=\"#ffffff\" stroke=\"#888\"/>\n"
            s += "<text x=\"\(f(bx + boxWidth / 2))\" y=\"\(f(by + 19))\" font-size=\"13\" font-weight=\"bold\" fill=\"#222\" text-anchor=\"middle\">\(escape(text))</text>\n"
        }
        s += "</g>\n"
        return s
    }

    func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}

func pow10(_ exponent: Int) -> Double {
    var v = 1.0
    if exponent >= 0 { for _ in 0..<exponent { v *= 10 } } else { for _ in 0..<(-exponent) { v /= 10 } }
    return v
}
