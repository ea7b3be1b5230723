import BatonSystem
import Foundation
import GRDB
import GRDBSQLite

/// The one SQLite store mechanism of a run directory, shared by the grid head
/// (`RUN/grid.sqlite`, `GridStore`) and the launch head (`RUN/launch.sqlite`,
/// `LaunchStore`): opening it in WAL mode with the durable settings, the migrations (the
/// tables every run has, `meta` and `events`, then the kind's own), the `events` table, and
/// group commit (the changes of one step in one transaction: one fsync for all of them).
/// The head writes; `runs`, `status`, `report` and snapshots read it at the same time.
final class RunStore {
    let db: DatabaseQueue
    let path: String
    private(set) var commits = 0
    /// Wall seconds spent in `write` (SQLite work and fsync), to tell the store's share of
    /// a head's time from the rest.
    private(set) var commitSeconds = 0.0
    /// Where one row's text values live while SQLite binds them (`RawStatement`).
    private let arena = BindArena()

    /// The tables of every run store.
    static let common = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS events(
          id INTEGER PRIMARY KEY, time REAL NOT NULL, kind TEXT NOT NULL, config_id TEXT, node TEXT, text TEXT NOT NULL);
        """

    /// Opens (creating it when asked) the store at `path`, applying `migrations` (identifier,
    /// SQL; GRDB's migrator runs each once) after the common tables whenever it is opened
    /// for writing. `durable` = `synchronous=FULL`: every commit is on disk before it
    /// returns, so it survives a power loss, not only a killed head. `missing` is the error
    /// for a store that does not exist and is not to be created.
    init(path: String, migrations: [(String, String)], create: Bool = false, readOnly: Bool = false,
                durable: Bool = true, missing: () -> Error) throws {
        self.path = path
        if !create && !FileManager.default.fileExists(atPath: path) { throw missing() }
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(10)
        if !readOnly { config.journalMode = .wal }
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                // Checkpoint the WAL into the database every 16,384 pages (64 MiB) instead of
                // SQLite's 1,000: at 100,000 configs a commit writes hundreds of pages, so
                // the default checkpointed (rewriting the same hot pages and fsyncing the
                // database file) after nearly every commit; that was 4% of the scheduler's
                // CPU plus an fsync's wait each time. The WAL file stays at most that big.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 16384")
            }
        }
        db = try DatabaseQueue(path: path, configuration: config)
        if !readOnly {
            // After opening, not in `prepareDatabase`: GRDB's WAL set-up runs after that hook
            // and sets `synchronous = NORMAL`, which silently made every store, durable or
            // not, skip the fsync per commit until 2026-12-03 (docs/benchmarks.md).
            let sync = durable ? "FULL" : "NORMAL"
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = \(sync)") }
            // Stores made before the migrator have every table but no migration table: the
            // migrations are `IF NOT EXISTS`, so applying them there changes nothing.
            var migrator = DatabaseMigrator()
            migrator.registerMigration("run-v1") { db in try db.execute(sql: RunStore.common) }
            for (id, sql) in migrations { migrator.registerMigration(id) { db in try db.execute(sql: sql) } }
            try migrator.migrate(db)
        }
    }

    /// Runs `body` in one transaction (group commit) and counts it.
    func write(_ body: (Database, inout RunStatements) throws -> Void) throws {
        let t0 = monotonicNow()
        try db.write { db in
            var statements = RunStatements(arena: arena)
            try body(db, &statements)
        }
        commits += 1
        commitSeconds += monotonicNow() - t0
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T { try db.read(body) }

    // MARK: the common tables

    static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)").execute(arguments: [key, value])
    }

    static func insertEvent(_ db: Database, _ st: inout RunStatements, time: Double, kind: String, configID: String?,
                            node: String?, text: String) throws {
        var s = try st.get(-1, db, "INSERT INTO events(time, kind, config_id, node, text) VALUES (?, ?, ?, ?, ?)")
        s.bind(time); s.bind(kind); s.bind(configID); s.bind(node); s.bind(text)
        try s.run(db)
    }

    func meta() throws -> [String: String] { try db.read { try RunStore.meta($0) } }

    static func meta(_ db: Database) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
            ($0["key"] as String, $0["value"] as String)
        })
    }
}

/// The statements of one commit, looked up in GRDB's statement cache once per commit
/// instead of once per row (each kind of row has its own key).
struct RunStatements {
    let arena: BindArena
    var byKind: [Int: RawStatement] = [:]
    mutating func get(_ kind: Int, _ db: Database, _ sql: String) throws -> RawStatement {
        if let s = byKind[kind] { return s }
        let s = RawStatement(try db.cachedStatement(sql: sql), arena: arena)
        byKind[kind] = s
        return s
    }
}

/// One of GRDB's cached statements run through the SQLite C API (GRDB documents
/// `sqliteStatement` for this): the run store's hot path. GRDB's `execute(arguments:)` boxes
/// every argument in an existential and builds an array per row, which was a third of
/// `commit`'s CPU time at 100,000 configs (perf, docs/benchmarks.md).
struct RawStatement {
    let handle: SQLiteStatement
    let sql: String
    let arena: BindArena
    private var index: Int32 = 0

    init(_ statement: Statement, arena: BindArena) {
        handle = statement.sqliteStatement
        sql = statement.sql
        self.arena = arena
    }

    mutating func bind(_ v: Int64) {
        index += 1
        sqlite3_bind_int64(handle, index, v)
    }
    mutating func bind(_ v: Int) { bind(Int64(v)) }
    mutating func bind(_ v: Int?) {
        if let v { bind(Int64(v)) } else { bindNull() }
    }
    mutating func bind(_ v: Double) {
        index += 1
        sqlite3_bind_double(handle, index, v)
    }
    mutating func bind(_ v: Double?) {
        if let v { bind(v) } else { bindNull() }
    }
    /// Text is copied into the arena and bound with SQLITE_STATIC: one memcpy instead of
    /// Swift's C-string conversion plus SQLite's own allocation and copy per value
    /// (SQLITE_TRANSIENT), which were 15% of the scheduler's CPU at 100,000 configs.
    mutating func bind(_ v: String) {
        index += 1
        let (bytes, count) = arena.copy(v)
        sqlite3_bind_text(handle, index, bytes, Int32(count), nil)  // nil: SQLITE_STATIC
    }
    mutating func bind(_ v: String?) {
        if let v { bind(v) } else { bindNull() }
    }
    mutating func bindNull() {
        index += 1
        sqlite3_bind_null(handle, index)
    }

    /// Steps the statement once (an INSERT or UPDATE), resets it and clears its bindings
    /// (they point into the arena, which the next row reuses).
    mutating func run(_ db: Database) throws {
        index = 0
        let rc = sqlite3_step(handle)
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        arena.reset()
        guard rc == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: sql)
        }
    }
}

/// The bytes of one row's text values while SQLite holds them (SQLITE_STATIC): a reused
/// buffer, so binding text allocates nothing; a value larger than what is left of it gets
/// its own block, freed with the row.
final class BindArena {
    private let size = 1 << 16
    private let block: UnsafeMutablePointer<CChar>
    private var used = 0
    private var large: [UnsafeMutablePointer<CChar>] = []

    init() { block = .allocate(capacity: size) }
    deinit {
        block.deallocate()
        for p in large { p.deallocate() }
    }

    /// A copy of `s`'s UTF-8 bytes (never a null pointer, also for ""), valid until `reset`.
    func copy(_ s: String) -> (UnsafePointer<CChar>, Int) {
        var s = s
        return s.withUTF8 { utf8 in
            let n = utf8.count
            let dest: UnsafeMutablePointer<CChar>
            if used + n <= size {
                dest = block + used
                used += n
            } else {
                dest = .allocate(capacity: max(n, 1))
                large.append(dest)
            }
            if n > 0 { UnsafeMutableRawPointer(dest).copyMemory(from: utf8.baseAddress!, byteCount: n) }
            return (UnsafePointer(dest), n)
        }
    }

    func reset() {
        used = 0
        if !large.isEmpty {
            for p in large { p.deallocate() }
            large.removeAll(keepingCapacity: true)
        }
    }
}
