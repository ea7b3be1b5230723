import BatonSupport
extension TextTable {
    /// A table in one call (Support/TextTable renders it).
    static func render(header: [String], rows: [[String]]) -> String {
        var table = TextTable(header: header)
        for row in rows { table.add(row) }
        return table.render()
    }
}

/// "200", "2.5", "56": a rate without a trailing ".0".
func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
