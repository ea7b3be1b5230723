/// A plain-text table with aligned columns, for terminal output.
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]] = []
    /// Columns whose cells are right-aligned (numbers).
    var rightAligned: Set<Int> = []

    public init(header: [String], rightAligned: Set<Int> = []) {
        self.header = header
        self.rightAligned = rightAligned
    }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func render(separator: String = "  ") -> String {
        let columns = ([header] + rows).map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in [header] + rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ row: [String]) -> String {
            var out: [String] = []
            for i in 0..<columns {
                let cell = i < row.count ? row[i] : ""
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                out.append(rightAligned.contains(i) ? pad + cell : cell + pad)
            }
            var s = out.joined(separator: separator)
            while s.last == " " { s.removeLast() }
            return s
        }
        var lines = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        lines += rows.map(line)
        return lines.joined(separator: "\n")
    }
}
