import BatonProtocol
import Foundation
import GRDB

/// A node of a launch run, as the store keeps it: in the job (`healthy`), lost in an
/// attempt, or, with `--nnodes` and more hosts than it, outside the job: a spare (also a lost
/// node that rejoined after `--cool-down`), or suspect (it failed the health gate).
public enum LaunchNodeState: String, Sendable, Codable {
    case healthy, lost, spare, suspect
}

/// The kind of a launch event: the `event` field of its line in `RUN/events.jsonl` and the
/// store's `events.kind`.
public enum LaunchEventKind: String, Sendable, Codable, CaseIterable {
    case attemptStart = "attempt-start"
    case attemptEnd = "attempt-end"
    /// The launch ended (its result, reason and exit code).
    case end
    /// A head took the run over (`--resume`).
    case resume
    /// The job restarts on the survivors (or the same nodes: `--on-rank-failure restart`).
    case restart
    case nodeLost = "node-lost"
    case interrupt
    /// mpirun did not end within the node-loss window after SIGTERM.
    case sigkillMpirun = "sigkill-mpirun"
    /// The head waits for the lost nodes' wrappers to fence before the restart.
    case fenceWait = "fence-wait"
    case agentLossCheck = "agent-loss-check"
    /// No node reported within the startup timeout.
    case neverStarted = "never-started"
    /// A rank stopped making progress while alive: the culprit, why, the stacks' directory
    /// (committed before the job is stopped).
    case hang
    /// A rank slower than the others (its score, busy fraction, the median).
    case straggler
    /// The health gate ran before an attempt: the nodes checked, those that failed and why,
    /// how long it took.
    case gate
    /// A node failed the health gate and is suspect (left out until it passes again after
    /// `--cool-down`).
    case nodeSuspect = "node-suspect"
    /// A lost or suspect node passed the gate after `--cool-down` and is a spare again.
    case nodeRejoined = "node-rejoined"
    /// A spare takes a lost or suspect node's place (or joins: the world grows back).
    case spareIn = "spare-in"
    /// The pool at an attempt's start: the nodes in the job, spares, suspect, lost.
    case pool
    /// The head asked every rank for a checkpoint (`--grow-after`: nodes back in the pool).
    case checkpointRequest = "checkpoint-request"
    /// The attempt stops at the checkpoint to grow with the nodes back in the pool (or,
    /// with `skipped`, it does not: no checkpoint came within `--grow-wait`).
    case grow

    /// The kind of an event as `LaunchStore.events()` returns it; nil for an unknown one.
    public static func of(_ event: [String: Any]) -> LaunchEventKind? {
        (event["event"] as? String).flatMap(LaunchEventKind.init(rawValue:))
    }
}

/// One change to a launch's run store. The head commits the changes of one transition in
/// one transaction before it acts on it: an attempt's start before mpirun starts, a node's
/// loss before the teardown, an attempt's end before the restart, the report before it is
/// printed.
public enum LaunchStoreOp: Sendable {
    case meta(String, String)
    case attemptStart(number: Int, nodes: [String], world: Int, masterPort: Int?, consumed: Int, startedAt: Double, plan: String)
    /// The end of an attempt (or, from `--resume`, the record of one an earlier head made,
    /// which may not be in the store yet).
    case attemptEnd(AttemptRecord, endedAt: Double)
    case node(name: String, position: Int, state: LaunchNodeState, since: Double, attempt: Int, signal: LossSignal?, cause: String?)
    /// `line` is the event as `RUN/events.jsonl` has it (a JSON object with `event` and `time`).
    case event(time: Double, kind: LaunchEventKind, node: String?, line: String)
    /// An event line of a run made before the store, as it was (its kind unchecked).
    case importedEvent(time: Double, kind: String, line: String)
    /// A metrics line of a rank (the head keeps rank 0's).
    case metric(attempt: Int, rank: Int, time: Double, line: String)
    /// How the launch ended (`LaunchReport` without its attempts, which are the attempts' records).
    case end(result: LaunchResult, reason: String, exitCode: Int32, lastConsumed: Int?)
}

/// One attempt as the store has it.
public struct LaunchAttemptRow: Sendable {
    public var number: Int
    var nodes: [String]
    var world: Int
    var masterPort: Int?
    var consumedAtStart: Int?
    var startedAt: Double?
    var endedAt: Double?
    var outcome: AttemptOutcome?
    /// Set once the attempt ended.
    public var record: AttemptRecord?
    public var plan: LaunchPlan?
}

public struct LaunchNodeRow: Sendable, Equatable {
    public var name: String
    var position: Int
    public var state: LaunchNodeState
    public var since: Double
    /// The attempt that lost it (or last ran on it).
    public var attempt: Int
    public var signal: LossSignal?
    public var cause: String?
}

/// The launch head's run store, `RUN/launch.sqlite` (a `RunStore`, as the grid's): attempts
/// (start, nodes, world, consumed, end, outcome, record, plan), nodes (state, lost how),
/// events, rank 0's metrics, and how the launch ended. `RUN/events.jsonl` and
/// `RUN/report.json` are views of it, written after each commit.
public final class LaunchStore {
    public static let fileName = RunDirectory.Relative.launchStore
    let store: RunStore
    var commits: Int { store.commits }
    var commitSeconds: Double { store.commitSeconds }

    static let migrations = [(
        "launch-v1",
        """
        CREATE TABLE IF NOT EXISTS attempts(
          number INTEGER PRIMARY KEY, nodes TEXT NOT NULL, world INTEGER NOT NULL, master_port INTEGER,
          consumed INTEGER, started_at REAL, ended_at REAL, outcome TEXT, record TEXT, plan TEXT);
        CREATE TABLE IF NOT EXISTS nodes(
          name TEXT PRIMARY KEY, position INTEGER NOT NULL, state TEXT NOT NULL, since REAL NOT NULL,
          attempt INTEGER NOT NULL, signal TEXT, cause TEXT);
        CREATE TABLE IF NOT EXISTS metrics(
          id INTEGER PRIMARY KEY, attempt INTEGER NOT NULL, rank INTEGER NOT NULL, time REAL NOT NULL, line TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS metrics_attempt ON metrics(attempt, rank);
        """
    )]

    public static func path(_ runDir: String) -> String { RunDirectory(runDir).launchStore }
    static func exists(runDir: String) -> Bool { FileManager.default.fileExists(atPath: path(runDir)) }

    public convenience init(runDir: String, create: Bool = false, readOnly: Bool = false, durable: Bool = true) throws {
        try self.init(path: LaunchStore.path(runDir), create: create, readOnly: readOnly, durable: durable,
                      missing: { LaunchError(.badInput, "\(runDir) has no launch store (\(LaunchStore.fileName))") })
    }

    init(path: String, create: Bool, readOnly: Bool, durable: Bool, missing: () -> Error) throws {
        store = try RunStore(path: path, migrations: LaunchStore.migrations, create: create, readOnly: readOnly,
                             durable: durable, missing: missing)
    }

    /// The store for the head of `runDir`, created when the run has none. A run an older
    /// head started (files, no store) is converted into one first (`LaunchStoreImport`),
    /// so events.jsonl stays the store's events line for line after a `--resume`.
    public static func forHead(runDir: String) throws -> LaunchStore {
        try LaunchStoreImport.convert(runDir: runDir)
        return try LaunchStore(runDir: runDir, create: true)
    }

    /// The store of `runDir` for reading, nil when it has none (not a launch run) or it
    /// cannot be opened. A run made before the store is converted into one first, once:
    /// the readers read nothing else.
    public static func reading(_ runDir: String) -> LaunchStore? {
        try? LaunchStoreImport.convert(runDir: runDir)
        guard exists(runDir: runDir) else { return nil }
        return try? LaunchStore(runDir: runDir, readOnly: true)
    }

    /// Commits all `ops` in one transaction.
    public func commit(_ ops: [LaunchStoreOp]) throws {
        if ops.isEmpty { return }
        try store.write { db, st in
            for op in ops { try apply(op, db, &st) }
        }
    }

    static func json<T: Encodable>(_ v: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(v)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private func apply(_ op: LaunchStoreOp, _ db: Database, _ st: inout RunStatements) throws {
        switch op {
        case .meta(let k, let v):
            try RunStore.setMeta(db, k, v)
        case .attemptStart(let number, let nodes, let world, let port, let consumed, let startedAt, let plan):
            var s = try st.get(0, db,
                """
                INSERT OR REPLACE INTO attempts(number, nodes, world, master_port, consumed, started_at, plan)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            s.bind(number); s.bind(nodes.joined(separator: ",")); s.bind(world); s.bind(port); s.bind(consumed)
            s.bind(startedAt); s.bind(plan)
            try s.run(db)
        case .attemptEnd(let r, let endedAt):
            var s = try st.get(1, db,
                """
                INSERT INTO attempts(number, nodes, world, master_port, consumed, ended_at, outcome, record)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(number) DO UPDATE SET ended_at = COALESCE(attempts.ended_at, excluded.ended_at),
                  outcome = excluded.outcome, record = excluded.record
                """)
            s.bind(r.attempt); s.bind(r.nodes.joined(separator: ",")); s.bind(r.worldSize); s.bind(r.masterPort)
            s.bind(r.consumedAtStart); s.bind(endedAt); s.bind(r.outcome.rawValue); s.bind(LaunchStore.json(r))
            try s.run(db)
        case .node(let name, let position, let state, let since, let attempt, let signal, let cause):
            var s = try st.get(2, db,
                "INSERT OR REPLACE INTO nodes(name, position, state, since, attempt, signal, cause) VALUES (?, ?, ?, ?, ?, ?, ?)")
            s.bind(name); s.bind(position); s.bind(state.rawValue); s.bind(since); s.bind(attempt); s.bind(signal?.rawValue)
            s.bind(cause)
            try s.run(db)
        case .event(let time, let kind, let node, let line):
            try RunStore.insertEvent(db, &st, time: time, kind: kind.rawValue, configID: nil, node: node, text: line)
        case .importedEvent(let time, let kind, let line):
            try RunStore.insertEvent(db, &st, time: time, kind: kind, configID: nil, node: nil, text: line)
        case .metric(let attempt, let rank, let time, let line):
            var s = try st.get(3, db, "INSERT INTO metrics(attempt, rank, time, line) VALUES (?, ?, ?, ?)")
            s.bind(attempt); s.bind(rank); s.bind(time); s.bind(line)
            try s.run(db)
        case .end(let result, let reason, let code, let lastConsumed):
            try RunStore.setMeta(db, "result", result.rawValue)
            try RunStore.setMeta(db, "reason", reason)
            try RunStore.setMeta(db, "exit_code", String(code))
            if let lastConsumed { try RunStore.setMeta(db, "last_consumed", String(lastConsumed)) }
            else { try db.execute(sql: "DELETE FROM meta WHERE key = 'last_consumed'") }
        }
    }

    // MARK: Reading

    public func meta() throws -> [String: String] { try store.meta() }

    /// Every attempt, by number.
    public func attempts() throws -> [LaunchAttemptRow] {
        try store.read { db in try LaunchStore.attempts(db) }
    }

    static func attempts(_ db: Database) throws -> [LaunchAttemptRow] {
        try Row.fetchAll(db, sql: "SELECT * FROM attempts ORDER BY number").map { row in
            let record = (row["record"] as String?).flatMap { try? JSONDecoder().decode(AttemptRecord.self, from: Data($0.utf8)) }
            let plan = (row["plan"] as String?).flatMap { try? JSONDecoder().decode(LaunchPlan.self, from: Data($0.utf8)) }
            return LaunchAttemptRow(
                number: row["number"], nodes: (row["nodes"] as String).split(separator: ",").map(String.init), world: row["world"],
                masterPort: row["master_port"], consumedAtStart: row["consumed"], startedAt: row["started_at"],
                endedAt: row["ended_at"], outcome: (row["outcome"] as String?).flatMap(AttemptOutcome.init(rawValue:)),
                record: record, plan: plan)
        }
    }

    /// The report as `baton launch` printed it at its end (and wrote to report.json): nil
    /// while no head of the run has ended it. Its attempts are every ended attempt's record.
    public func report() throws -> LaunchReport? {
        try store.read { db in
            let meta = try RunStore.meta(db)
            guard let result = meta["result"].flatMap(LaunchResult.init(rawValue:)) else { return nil }
            return LaunchReport(
                result: result, reason: meta["reason"] ?? "", attempts: try LaunchStore.attempts(db).compactMap(\.record),
                exitCode: meta["exit_code"].flatMap(Int32.init) ?? 0, lastConsumed: meta["last_consumed"].flatMap(Int.init))
        }
    }

    /// The events as `RUN/events.jsonl` lines, oldest first.
    func eventLines() throws -> [String] {
        try store.read { db in try String.fetchAll(db, sql: "SELECT text FROM events ORDER BY id") }
    }

    public func events() throws -> [[String: Any]] {
        try eventLines().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    public func nodes() throws -> [LaunchNodeRow] {
        try store.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY position").map { row in
                LaunchNodeRow(
                    name: row["name"], position: row["position"], state: LaunchNodeState(rawValue: row["state"]) ?? .healthy,
                    since: row["since"], attempt: row["attempt"], signal: (row["signal"] as String?).flatMap(LossSignal.init(rawValue:)),
                    cause: row["cause"])
            }
        }
    }

    /// A rank's metrics lines of one attempt, as the head received them.
    public func metricLines(attempt: Int, rank: Int = 0) throws -> [String] {
        try store.read { db in
            try String.fetchAll(db, sql: "SELECT line FROM metrics WHERE attempt = ? AND rank = ? ORDER BY id", arguments: [attempt, rank])
        }
    }

    /// The most samples consumed that the store knows of: in a metrics line, an event, or
    /// the report.
    public func consumed() throws -> Int? {
        try store.read { db in
            let m = try Int.fetchOne(db, sql: "SELECT MAX(CAST(json_extract(line, '$.consumed') AS INTEGER)) FROM metrics")
            let e = try Int.fetchOne(db, sql: "SELECT MAX(CAST(json_extract(text, '$.consumed') AS INTEGER)) FROM events")
            let r = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'last_consumed'").flatMap(Int.init)
            return [m, e, r].compactMap { $0 }.max()
        }
    }
}
