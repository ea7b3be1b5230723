import BatonSupport
import MPI

/// Facts about the MPI job the selftest ran in, gathered to every rank.
public struct SelftestEnvironment: Sendable {
    let libraryVersion: String
    let threadLevel: ThreadLevel
    let ranks: Int
    /// Host name -> number of ranks on it, in order of first rank.
    let ranksPerHost: [(host: String, ranks: Int)]

    /// Gathers the processor name of every rank of `comm`. Collective.
    public static func gather(on comm: Communicator, threadLevel: ThreadLevel) throws -> SelftestEnvironment {
        let width = 256
        var mine = [UInt8](repeating: 0, count: width)
        for (i, b) in try MPIEnvironment.processorName().utf8.prefix(width).enumerated() { mine[i] = b }
        var all = [UInt8](repeating: 0, count: width * comm.size)
        try comm.allGather(mine, into: &all)
        var order: [String] = []
        var counts: [String: Int] = [:]
        for r in 0..<comm.size {
            let name = String(decoding: all[(r * width)..<((r + 1) * width)].prefix { $0 != 0 }, as: UTF8.self)
            if counts[name] == nil { order.append(name) }
            counts[name, default: 0] += 1
        }
        return SelftestEnvironment(
            libraryVersion: MPIEnvironment.libraryVersion, threadLevel: threadLevel, ranks: comm.size,
            ranksPerHost: order.map { ($0, counts[$0]!) })
    }
}

/// Renders selftest results for people.
public enum SelftestReport {
    /// One row per call, one column per element type; a cell is "ok" when every count
    /// passed, "FAIL" otherwise, "-" where MPI does not define the call for that type.
    public static func matrix(_ results: [SelftestResult], counts: [SelftestCount]) -> String {
        var calls: [String] = []
        var cells: [String: [String: Bool]] = [:]
        for r in results {
            if cells[r.call] == nil { calls.append(r.call) }
            cells[r.call, default: [:]][r.type, default: true] = (cells[r.call]?[r.type] ?? true) && r.passed
        }
        var table = TextTable(header: ["call"] + Selftest.typeNames)
        for call in calls {
            table.add([call] + Selftest.typeNames.map { t in cells[call]?[t].map { $0 ? "ok" : "FAIL" } ?? "-" })
        }
        return "counts per rank: " + counts.map(\.description).joined(separator: ", ") + "\n" + table.render()
    }

    /// One row per (call, type, count): the long form.
    public static func rows(_ results: [SelftestResult]) -> String {
        var table = TextTable(header: ["call", "type", "count", "result"], rightAligned: [2])
        for r in results { table.add([r.call, r.type, "\(r.count)", r.passed ? "ok" : "FAIL"]) }
        return table.render()
    }

    /// One line per failure: call, type, count, rank and first wrong element.
    public static func failures(_ results: [SelftestResult]) -> [String] {
        results.compactMap { r in
            r.failure.map { "FAIL \(r.call) type=\(r.type) count=\(r.count): \($0)" }
        }
    }

    public static func header(_ env: SelftestEnvironment) -> String {
        let hosts = env.ranksPerHost.map { "\($0.host): \($0.ranks)" }.joined(separator: ", ")
        return """
            MPI library:    \(env.libraryVersion.split(separator: "\n").first ?? "")
            thread level:   \(env.threadLevel)
            ranks:          \(env.ranks)
            ranks per host: \(hosts)
            """
    }
}
