import BatonProtocol
import BatonSupport
import Foundation
import GRDB

/// The state of a config in the run store.
public enum GridConfigStatus: String, Sendable, Codable {
    case pending, running, done, failed
    /// Stopped early by the spec's `scheduler` (ASHA, median); its decision says why.
    case stopped
}

/// The state of a node in the run store.
public enum GridNodeState: String, Sendable, Codable {
    case healthy, suspect, dead
}

/// How a config's attempt stands, as the store keeps it (the raw values are the store's
/// `attempts.status` column; its tally counts them in SQL by the same strings).
public enum GridAttemptStatus: String, Sendable, Codable, CaseIterable {
    /// Started and not ended (or its head was killed: `--resume` finds it).
    case running
    /// Its command exited 0.
    case done
    /// Its command failed (a retry follows while `max_retries` allows).
    case failed
    /// Its node was lost; the config is handed off.
    case lost
    /// It ran past the spec's `timeout`.
    case timeout
    /// A killed head left it running; the next head stopped it.
    case orphaned
    /// Stopped by `baton grid stop` or Ctrl-C; it resumes first.
    case stopped
}

extension GridAttemptStatus: ExpressibleByStringLiteral {
    /// For code that still spells a status as a string: `baton grid stop`'s
    /// (Sources/baton/Commands/GridCommand.swift, whose head code is moving into the
    /// library in another change). An unknown name is a programming error and traps.
    @available(*, deprecated, message: "spell the status as a case (.running)")
    public init(stringLiteral value: String) {
        guard let status = GridAttemptStatus(rawValue: value) else { preconditionFailure("no grid attempt status '\(value)'") }
        self = status
    }
}

/// The kind of a grid event (the store's `events.kind`).
public enum GridEventKind: String, Sendable, Codable, CaseIterable {
    /// The run as a whole: started, resumed, finished, stopped, no node left.
    case run
    case started, finished, failed, retry, rollback, handoff
    /// A node is answering again, or is suspected.
    case node
    case nodeLost = "node-lost"
    case nodeReadmitted = "node-readmitted"
    case nodeCheck = "node-check"
    /// The scheduler stopped a config early (ASHA, median rule).
    case earlyStop = "early-stop"
    /// A config continues past a rung (ASHA's promotion).
    case promoted
}

/// One change to the run store. The scheduler collects the changes of one step and commits
/// them in one transaction before it acts on any of them (group commit: one fsync for all
/// the transitions that became due together).
public enum GridStoreOp: Sendable {
    case meta(String, String)
    case insertConfig(GridConfig)
    case config(id: String, status: GridConfigStatus, attempts: Int, failures: Int, metrics: String?, objective: Double?,
        lastOutput: String?, finishedAt: Double?)
    case insertAttempt(id: Int64, configID: String, number: Int, nodes: String, startedAt: Double, resumed: Bool)
    case attemptProcess(id: Int64, pid: Int32, session: Int32)
    case endAttempt(id: Int64, endedAt: Double, status: GridAttemptStatus, exitCode: Int32?, reason: String)
    case node(name: String, position: Int, state: GridNodeState, since: Double, losses: Int)
    case event(time: Double, kind: GridEventKind, configID: String?, node: String?, text: String)
    /// A running config's progress report (its `time_attr` and objective) and what the
    /// early-stopping rule decided on it, if anything.
    case progress(GridProgressRecord)
}

/// The grid's run store (`RUN/grid.sqlite`, a `RunStore`): configs, attempts, nodes, events
/// and the run's settings. The head writes; `status` and `results` read it at the same time.
public final class GridStore {
    public static let fileName = RunDirectory.Relative.gridStore
    let store: RunStore
    var db: DatabaseQueue { store.db }
    var path: String { store.path }
    public var commits: Int { store.commits }
    /// Wall seconds spent in `commit` (SQLite work and fsync), to tell the store's share of
    /// the scheduler's time from the rest.
    public var commitSeconds: Double { store.commitSeconds }

    static let migrations = [(
        "grid-v1",
        """
        CREATE TABLE IF NOT EXISTS configs(
          id TEXT PRIMARY KEY, position INTEGER NOT NULL, params TEXT NOT NULL, argv TEXT NOT NULL,
          status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
          metrics TEXT, objective REAL, last_output TEXT, finished_at REAL);
        CREATE TABLE IF NOT EXISTS attempts(
          id INTEGER PRIMARY KEY, config_id TEXT NOT NULL, number INTEGER NOT NULL, nodes TEXT NOT NULL,
          started_at REAL NOT NULL, ended_at REAL, status TEXT NOT NULL, exit_code INTEGER, reason TEXT,
          resumed INTEGER NOT NULL, pid INTEGER, session INTEGER);
        CREATE TABLE IF NOT EXISTS nodes(
          name TEXT PRIMARY KEY, position INTEGER NOT NULL, state TEXT NOT NULL, since REAL NOT NULL,
          losses INTEGER NOT NULL DEFAULT 0);
        """
    ), (
        "grid-v2-progress",
        // Every progress report the early-stopping rule took, in the order it took them
        // (`seq`), with the decision it made on it: `--resume` feeds them back in that order.
        """
        CREATE TABLE IF NOT EXISTS progress(
          seq INTEGER PRIMARY KEY, config_id TEXT NOT NULL, attempt_id INTEGER NOT NULL, time REAL NOT NULL,
          value REAL NOT NULL, at REAL NOT NULL, decision TEXT, rung INTEGER, milestone REAL, cutoff REAL,
          peers INTEGER, reason TEXT);
        CREATE INDEX IF NOT EXISTS progress_config ON progress(config_id, seq);
        """
    )]

    /// Opens (creating when asked) the store. `durable` = `synchronous=FULL`: every commit
    /// is on disk before it returns, so it survives a power loss, not only a killed head.
    public init(runDir: String, create: Bool = false, readOnly: Bool = false, durable: Bool = true) throws {
        let path = RunDirectory(runDir).gridStore
        let missing = { GridRunError("\(runDir) is not a grid run directory (no \(GridStore.fileName))") }
        store = try RunStore(path: path, migrations: GridStore.migrations, create: create, readOnly: readOnly, durable: durable,
                             missing: missing)
        if readOnly {
            // A store made before the decoded spec: converted once, through a connection
            // that may write (a reader that cannot write it finds no objective).
            if try GridStore.lacksSpecRecord(store) {
                try? GridStore.addSpecRecord(try RunStore(path: path, migrations: GridStore.migrations, missing: missing))
            }
        } else {
            try GridStore.addSpecRecord(store)
        }
    }

    static func lacksSpecRecord(_ store: RunStore) throws -> Bool {
        let meta = try store.meta()
        return meta[GridSpecRecord.metaKey] == nil && meta["spec_text"] != nil
    }

    /// Writes the decoded spec (`GridSpecRecord`) of a store made before it kept one, from
    /// its YAML: the one parse of it a reader ever needs.
    static func addSpecRecord(_ store: RunStore) throws {
        guard try lacksSpecRecord(store) else { return }
        let meta = try store.meta()
        let value = GridSpecRecord.metaValue(specText: meta["spec_text"] ?? "", file: meta["spec_path"] ?? "spec")
        try store.write { db, _ in try RunStore.setMeta(db, GridSpecRecord.metaKey, value) }
    }

    /// Commits all `ops` in one transaction.
    public func commit(_ ops: [GridStoreOp]) throws {
        if ops.isEmpty { return }
        try store.write { db, statements in
            for op in ops { try apply(op, db, &statements) }
        }
    }

    /// Each config's rowid, so a config's UPDATE is one lookup in the table's B-tree instead
    /// of one in the `id` index and then one in the table (loaded on the first UPDATE and
    /// again after configs are inserted). Rowids change only with a VACUUM, which Baton
    /// never runs.
    private var configRowIDs: [String: Int64]?

    private func configRowID(_ id: String, _ db: Database) throws -> Int64? {
        if configRowIDs == nil {
            var map: [String: Int64] = [:]
            map.reserveCapacity(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM configs") ?? 0)
            let rows = try Row.fetchCursor(db, sql: "SELECT rowid, id FROM configs")
            while let row = try rows.next() { map[row[1]] = row[0] }
            configRowIDs = map
        }
        return configRowIDs?[id]
    }

    private func apply(_ op: GridStoreOp, _ db: Database, _ st: inout RunStatements) throws {
        switch op {
        case .meta(let k, let v):
            try RunStore.setMeta(db, k, v)
        case .insertConfig(let c):
            // A spec extended on --resume can move a config; keep the newest order.
            try db.cachedStatement(
                sql: """
                    INSERT INTO configs(id, position, params, argv, status) VALUES (?, ?, ?, ?, 'pending')
                    ON CONFLICT(id) DO UPDATE SET position = excluded.position
                    """
            ).execute(arguments: [c.id, c.position, c.orderedJSON, GridJSON.stringArray(c.argv)])
            configRowIDs = nil
        case .config(let id, let status, let attempts, let failures, let metrics, let objective, let lastOutput, let finishedAt):
            // A config not in the store updates nothing (as `WHERE id = ?` would).
            guard let rowID = try configRowID(id, db) else { return }
            var s = try st.get(0, db,
                """
                UPDATE configs SET status = ?, attempts = ?, failures = ?, metrics = COALESCE(?, metrics),
                  objective = COALESCE(?, objective), last_output = COALESCE(?, last_output), finished_at = ? WHERE rowid = ?
                """)
            s.bind(status.rawValue); s.bind(attempts); s.bind(failures); s.bind(metrics); s.bind(objective)
            s.bind(lastOutput); s.bind(finishedAt); s.bind(rowID)
            try s.run(db)
        case .insertAttempt(let id, let configID, let number, let nodes, let startedAt, let resumed):
            var s = try st.get(1, db,
                """
                INSERT INTO attempts(id, config_id, number, nodes, started_at, status, resumed)
                VALUES (?, ?, ?, ?, ?, '\(GridAttemptStatus.running.rawValue)', ?)
                """)
            s.bind(id); s.bind(configID); s.bind(number); s.bind(nodes); s.bind(startedAt); s.bind(resumed ? 1 : 0)
            try s.run(db)
        case .attemptProcess(let id, let pid, let session):
            var s = try st.get(2, db, "UPDATE attempts SET pid = ?, session = ? WHERE id = ?")
            s.bind(Int(pid)); s.bind(Int(session)); s.bind(id)
            try s.run(db)
        case .endAttempt(let id, let endedAt, let status, let exitCode, let reason):
            var s = try st.get(3, db, "UPDATE attempts SET ended_at = ?, status = ?, exit_code = ?, reason = ? WHERE id = ?")
            s.bind(endedAt); s.bind(status.rawValue); s.bind(exitCode.map { Int($0) }); s.bind(reason); s.bind(id)
            try s.run(db)
        case .node(let name, let position, let state, let since, let losses):
            var s = try st.get(4, db, "INSERT OR REPLACE INTO nodes(name, position, state, since, losses) VALUES (?, ?, ?, ?, ?)")
            s.bind(name); s.bind(position); s.bind(state.rawValue); s.bind(since); s.bind(losses)
            try s.run(db)
        case .event(let time, let kind, let configID, let node, let text):
            try RunStore.insertEvent(db, &st, time: time, kind: kind.rawValue, configID: configID, node: node, text: text)
        case .progress(let p):
            var s = try st.get(5, db,
                """
                INSERT INTO progress(config_id, attempt_id, time, value, at, decision, rung, milestone, cutoff, peers, reason)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            s.bind(p.configID); s.bind(p.attemptID); s.bind(p.time); s.bind(p.value); s.bind(p.at)
            s.bind(p.decision?.rawValue); s.bind(p.rung); s.bind(p.milestone); s.bind(p.cutoff); s.bind(p.peers); s.bind(p.reason)
            try s.run(db)
        }
    }

    // MARK: Reading

    /// The connection's `PRAGMA synchronous` (2 = FULL, 1 = NORMAL): what `durable` gave.
    func synchronousSetting() throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func meta() throws -> [String: String] { try store.meta() }

    /// Every progress report, in the order the scheduler took them (all configs, or one).
    public func progress(config: String? = nil) throws -> [GridProgressRecord] {
        try db.read { db in try GridStore.progress(db, config: config, decisionsOnly: false) }
    }

    private static func progress(_ db: Database, config: String?, decisionsOnly: Bool) throws -> [GridProgressRecord] {
        // A store of a build before early stopping, opened read-only (no migration ran).
        guard try db.tableExists("progress") else { return [] }
        var sql = "SELECT * FROM progress"
        var clauses: [String] = []
        var args: [(any DatabaseValueConvertible)?] = []
        if let config { clauses.append("config_id = ?"); args.append(config) }
        if decisionsOnly { clauses.append("decision IS NOT NULL") }
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        return try Row.fetchAll(db, sql: sql + " ORDER BY seq", arguments: StatementArguments(args)).map { row in
            GridProgressRecord(
                configID: row["config_id"], attemptID: row["attempt_id"], time: row["time"], value: row["value"], at: row["at"],
                decision: (row["decision"] as String?).flatMap(GridProgressRecord.Decision.init(rawValue:)), rung: row["rung"],
                milestone: row["milestone"], cutoff: row["cutoff"], peers: row["peers"], reason: row["reason"])
        }
    }

    public func snapshot(events eventLimit: Int = 20) throws -> GridSnapshot {
        try db.read { db in
            let meta = try RunStore.meta(db)
            var attemptsByConfig: [String: [GridAttemptRecord]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM attempts ORDER BY id") {
                let a = GridAttemptRecord(
                    id: row["id"], configID: row["config_id"], number: row["number"],
                    nodes: (row["nodes"] as String).split(separator: ",").map(String.init), startedAt: row["started_at"],
                    endedAt: row["ended_at"], status: GridAttemptStatus(rawValue: row["status"]) ?? .failed, exitCode: row["exit_code"], reason: row["reason"],
                    resumed: row["resumed"], pid: row["pid"], session: row["session"])
                attemptsByConfig[a.configID, default: []].append(a)
            }
            var decisions: [String: [GridProgressRecord]] = [:]
            for d in try GridStore.progress(db, config: nil, decisionsOnly: true) { decisions[d.configID, default: []].append(d) }
            let configs = try Row.fetchAll(db, sql: "SELECT * FROM configs ORDER BY position").map { row in
                let id: String = row["id"]
                return GridConfigRecord(
                    id: id, position: row["position"], params: GridJSON.parseObject(row["params"]),
                    paramsJSON: row["params"], argv: GridJSON.parseStringArray(row["argv"]),
                    status: GridConfigStatus(rawValue: row["status"]) ?? .pending, attempts: row["attempts"],
                    failures: row["failures"], metrics: GridStore.parseMetrics(row["metrics"]), objective: row["objective"],
                    lastOutput: row["last_output"], finishedAt: row["finished_at"], attemptRecords: attemptsByConfig[id] ?? [],
                    decisions: decisions[id] ?? [])
            }
            let nodes = try GridStore.nodes(db)
            let events = try Row.fetchAll(
                db, sql: "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [eventLimit]
            ).map { row in
                GridEventRecord(time: row["time"], kind: GridEventKind(rawValue: row["kind"]) ?? .run, configID: row["config_id"], node: row["node"], text: row["text"])
            }
            return GridSnapshot(meta: meta, configs: configs, nodes: nodes, recentEvents: events)
        }
    }

    /// How a run's configs ended, counted in the store by one query (no config or attempt
    /// is read into memory, so it checks a 100,000-config run as cheaply as a small one).
    public struct Tally: Sendable, Equatable {
        public var configs = 0
        public var done = 0
        public var failed = 0
        /// Configs the early-stopping rule stopped.
        public var stopped = 0
        /// Configs whose record breaks exactly-once: done without exactly one attempt that
        /// ended `done`, failed or not finished with any attempt `done`, or more than one
        /// attempt still `running` (none should be once the scheduler returns).
        public var violations = 0
        /// Attempts that ended `lost` (hand-offs) and `failed` (retries).
        public var lostAttempts = 0
        public var failedAttempts = 0
        public var runningAttempts = 0
    }

    public func tally() throws -> Tally {
        try db.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        WITH per AS (
                          SELECT config_id, SUM(status = 'done') AS done, SUM(status = 'lost') AS lost,
                            SUM(status = 'failed') AS failed, SUM(status = 'running') AS running
                          FROM attempts GROUP BY config_id)
                        SELECT COUNT(*) AS configs,
                          COALESCE(SUM(c.status = 'done'), 0) AS done, COALESCE(SUM(c.status = 'failed'), 0) AS failed,
                          COALESCE(SUM(c.status = 'stopped'), 0) AS stopped,
                          COALESCE(SUM(CASE WHEN c.status = 'done' THEN COALESCE(per.done, 0) != 1
                                            ELSE COALESCE(per.done, 0) != 0 END), 0) AS violations,
                          COALESCE(SUM(per.lost), 0) AS lost, COALESCE(SUM(per.failed), 0) AS failed_attempts,
                          COALESCE(SUM(per.running), 0) AS running
                        FROM configs c LEFT JOIN per ON per.config_id = c.id
                        """)
            else { return Tally() }
            return Tally(
                configs: row["configs"], done: row["done"], failed: row["failed"], stopped: row["stopped"],
                violations: row["violations"],
                lostAttempts: row["lost"], failedAttempts: row["failed_attempts"], runningAttempts: row["running"])
        }
    }

    /// The nodes only (the simulation's node-loss count), without reading configs and attempts.
    public func snapshotNodes() throws -> [GridNodeRecord] {
        try db.read { db in try GridStore.nodes(db) }
    }

    private static func nodes(_ db: Database) throws -> [GridNodeRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM nodes ORDER BY position").map { row in
            GridNodeRecord(
                name: row["name"], position: row["position"],
                state: GridNodeState(rawValue: row["state"]) ?? .healthy, since: row["since"], losses: row["losses"])
        }
    }

    static func parseMetrics(_ text: String?) -> [String: Double] {
        guard let text, let data = text.data(using: .utf8),
            let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        var out: [String: Double] = [:]
        for (k, v) in obj { if let d = (v as? NSNumber)?.doubleValue { out[k] = d } }
        return out
    }

    /// `{"loss":0.25,"step":100.0}`, keys sorted. (Built in one string: the scheduler
    /// writes one per finished config.)
    package static func metricsJSON(_ metrics: [String: Double]) -> String {
        var out = "{"
        out.reserveCapacity(16 + metrics.count * 24)
        for (i, (key, value)) in metrics.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out += "," }
            OrderedJSON.quote(key, into: &out)
            out += ":"
            out += GridValue.format(value)
        }
        out += "}"
        return out
    }
}

public struct GridAttemptRecord: Sendable {
    public var id: Int64
    public var configID: String
    public var number: Int
    public var nodes: [String]
    public var startedAt: Double
    public var endedAt: Double?
    public var status: GridAttemptStatus
    var exitCode: Int32?
    var reason: String?
    public var resumed: Bool
    public var pid: Int32?
    public var session: Int32?
}

public struct GridConfigRecord: Sendable {
    public var id: String
    public var position: Int
    public var params: [(String, GridValue)]
    public var paramsJSON: String
    public var argv: [String]
    public var status: GridConfigStatus
    public var attempts: Int
    public var failures: Int
    public var metrics: [String: Double]
    public var objective: Double?
    public var lastOutput: String?
    var finishedAt: Double?
    public var attemptRecords: [GridAttemptRecord]
    /// The early-stopping rule's decisions about it, in order (the last one says why it
    /// stopped, or the last rung it was promoted at).
    public var decisions: [GridProgressRecord] = []
}

/// One progress report of a running config as the store keeps it (`progress` table), with
/// the early-stopping decision made on it.
public struct GridProgressRecord: Sendable, Equatable {
    public enum Decision: String, Sendable, Codable {
        /// Continues past the rung (ASHA's promotion; the median rule's "not worse").
        case `continue`
        case stop
    }

    public var configID: String
    public var attemptID: Int64
    /// The report's `time_attr` (step, epoch, ...) and objective value.
    public var time: Double
    public var value: Double
    /// When the head took it (wall clock).
    public var at: Double
    public var decision: Decision?
    /// ASHA's rung; nil for the median rule.
    public var rung: Int?
    public var milestone: Double?
    /// The value the decision compared, and what it had to be at least as good as.
    public var cutoff: Double?
    public var peers: Int?
    public var reason: String?

    package init(configID: String, attemptID: Int64, time: Double, value: Double, at: Double, decision: Decision? = nil,
                 rung: Int? = nil, milestone: Double? = nil, cutoff: Double? = nil, peers: Int? = nil, reason: String? = nil)
    {
        self.configID = configID
        self.attemptID = attemptID
        self.time = time
        self.value = value
        self.at = at
        self.decision = decision
        self.rung = rung
        self.milestone = milestone
        self.cutoff = cutoff
        self.peers = peers
        self.reason = reason
    }
}

extension GridConfigRecord {
    /// A config just written by `GridRun.create`: pending, no attempts (what reading it
    /// back from the store would give).
    public init(pending c: GridConfig) {
        self.init(
            id: c.id, position: c.position, params: c.params, paramsJSON: c.orderedJSON, argv: c.argv, status: .pending,
            attempts: 0, failures: 0, metrics: [:], objective: nil, lastOutput: nil, finishedAt: nil, attemptRecords: [])
    }
}

public struct GridNodeRecord: Sendable {
    public var name: String
    public var position: Int
    public var state: GridNodeState
    public var since: Double
    public var losses: Int
}

public struct GridEventRecord: Sendable {
    public var time: Double
    public var kind: GridEventKind
    var configID: String?
    public var node: String?
    public var text: String

    // Package-wide: the grid's scheduler, a layer up, records events (a memberwise initializer is internal).
    package init(time: Double, kind: GridEventKind, configID: String? = nil, node: String? = nil, text: String) {
        self.time = time
        self.kind = kind
        self.configID = configID
        self.node = node
        self.text = text
    }
}

/// Everything `status` and `results` show, read in one transaction.
public struct GridSnapshot: Sendable {
    public var meta: [String: String]
    public var configs: [GridConfigRecord]
    public var nodes: [GridNodeRecord]
    public var recentEvents: [GridEventRecord]
}

/// A run that cannot be started, resumed or read; the description says what to do.
public struct GridRunError: BatonError, Sendable {
    public var description: String
    /// Bad input unless said otherwise (a run that cannot be read or resumed; nothing started).
    public var exitCode: Int32

    public init(_ description: String, exitCode: Int32 = ExitCodes.badInput) {
        self.description = description
        self.exitCode = exitCode
    }
}
