import BatonGrid
import BatonProtocol
import BatonRuns
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The output of a run, from its files, for `baton logs`: a launch's rank logs
/// (`RUN/logs/<node>.<rank>.log`, appended over attempts by each rank's `baton exec`), a grid
/// config's attempt logs (`RUN/configs/<id>/attempt-N.log`), or the head's own log.
public enum RunLogs {
    /// One file and the label its lines are printed with.
    public struct Source: Sendable, Equatable {
        var path: String
        var label: String
    }

    /// What `baton logs` was asked to show.
    public struct Filter: Sendable {
        var rank: Int?
        public var node: String?
        public var config: String?
        var head = false

        public init(rank: Int? = nil, node: String? = nil, config: String? = nil, head: Bool = false) {
            self.rank = rank
            self.node = node
            self.config = config
            self.head = head
        }
    }

    /// A filter that does not fit the run's kind, for a person; nil when it fits.
    public static func mismatch(_ f: Filter, kind: RunKind) -> String? {
        switch kind {
        case .launch where f.config != nil: return "--config is for grid runs; this is a launch run (use --rank or --node)"
        case .grid where f.rank != nil: return "--rank is for launch runs; a grid config's attempt log holds all of its ranks (use --config or --node)"
        default: return nil
        }
    }

    /// The files that hold what was asked for, as they are now (more appear as a run goes on).
    public static func sources(runDir: String, kind: RunKind, filter f: Filter) -> [Source] {
        let fm = FileManager.default
        let run = RunDirectory(runDir)
        if f.head { return [Source(path: run.headLog, label: "head")] }
        switch kind {
        case .launch:
            let dir = run.logs
            let names = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
            let parsed = names.compactMap { name -> (node: String, rank: Int, name: String)? in
                guard name.hasSuffix(RunDirectory.Relative.logSuffix) else { return nil }
                let stem = name.dropLast(RunDirectory.Relative.logSuffix.count)
                guard let dot = stem.lastIndex(of: "."), let rank = Int(stem[stem.index(after: dot)...]) else { return nil }
                return (String(stem[..<dot]), rank, name)
            }
            return parsed.filter { (f.rank == nil || $0.rank == f.rank) && (f.node == nil || $0.node == f.node) }
                .sorted { $0.rank < $1.rank }
                .map { Source(path: RunDirectory(dir).appending($0.name), label: "\($0.node):\($0.rank)") }
        case .grid:
            var attempts: [(config: String, number: Int, nodes: [String])] = []
            if let store = try? GridStore(runDir: runDir, readOnly: true), let snap = try? store.snapshot(events: 0) {
                for c in snap.configs where f.config == nil || c.id == f.config {
                    for a in c.attemptRecords { attempts.append((c.id, a.number, a.nodes)) }
                }
            }
            return attempts.filter { f.node == nil || $0.nodes.contains(f.node!) }
                .map { a in
                    Source(path: run.configAttemptLog(a.config, attempt: a.number),
                           label: "\(a.config)#\(a.number)@\(a.nodes.joined(separator: ","))")
                }
        }
    }

    /// Reads new complete lines from files as they grow.
    struct Tail {
        var offsets: [String: UInt64] = [:]
        var partial: [String: String] = [:]

        init() {}

        /// The lines appended to `source` since the last call (`flush`: a last line without
        /// its newline too).
        mutating func read(_ source: Source, flush: Bool = false) -> [String] {
            guard let h = FileHandle(forReadingAtPath: source.path) else { return [] }
            defer { try? h.close() }
            let from = offsets[source.path] ?? 0
            guard (try? h.seek(toOffset: from)) != nil else { return [] }
            let data = ((try? h.readToEnd()) ?? nil) ?? Data()
            guard !data.isEmpty || flush else { return [] }
            offsets[source.path] = from + UInt64(data.count)
            var text = (partial[source.path] ?? "") + String(decoding: data, as: UTF8.self)
            var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            text = lines.removeLast()
            if flush && !text.isEmpty { lines.append(text); text = "" }
            partial[source.path] = text
            return lines
        }
    }

    /// Prints every line of `sources()` with its label; with `follow`, goes on printing what
    /// is appended (new files included, every `every` seconds) until `running()` is false,
    /// then prints what is left and returns.
    public static func show(sources: () -> [Source], follow: Bool, running: () -> Bool, every: Double = 0.2,
                            write: (String) -> Void) {
        var tail = Tail()
        func pass(flush: Bool) {
            for s in sources() {
                let lines = tail.read(s, flush: flush)
                if !lines.isEmpty { write(lines.map { "\(s.label) \($0)\n" }.joined()) }
            }
        }
        guard follow else { pass(flush: true); return }
        while true {
            let more = running()
            pass(flush: !more)
            if !more { return }
            usleep(UInt32(every * 1_000_000))
        }
    }
}
