import BatonLaunch
import BatonProtocol
import BatonRuns
import Foundation

/// Creating, resuming and reading a grid run directory. The CLI and the tests go through
/// here; the executor is chosen by the caller.
public enum GridRun {
    /// Settings a run keeps in its store so that `--resume` needs only the directory.
    public struct Settings: Sendable {
        var specPath: String
        var specText: String
        var nodeNames: [String]
        /// How the hosts were given (`--local 4`, `-H a,b`, `--hostfile f`), for status.
        var hostSource: String
        var executor: String
        var heartbeatTimeout: Double
        var coolDown: Double
        /// `--health-timeout`: a dead node's health check must answer within this.
        var healthTimeout: Double = 10
        /// `--on-corrupt-checkpoint`: fail (a retry like any failure) or rollback.
        var onCorruptCheckpoint = "fail"
        /// Hang detection in every attempt (`--hang-timeout`, ...).
        var hang = HangSettings()

        init(specPath: String, specText: String, nodeNames: [String], hostSource: String, executor: String,
            heartbeatTimeout: Double, coolDown: Double)
        {
            self.specPath = specPath
            self.specText = specText
            self.nodeNames = nodeNames
            self.hostSource = hostSource
            self.executor = executor
            self.heartbeatTimeout = heartbeatTimeout
            self.coolDown = coolDown
        }

        var metaOps: [GridStoreOp] {
            [
                .meta("spec_path", specPath), .meta("spec_text", specText),
                .meta(GridSpecRecord.metaKey, GridSpecRecord.metaValue(specText: specText, file: specPath)),
                .meta("nodes", GridJSON.stringArray(nodeNames)), .meta("host_source", hostSource),
                .meta("executor", executor), .meta("heartbeat_timeout", String(heartbeatTimeout)),
                .meta("cool_down", String(coolDown)), .meta("health_timeout", String(healthTimeout)),
                .meta("on_corrupt_checkpoint", onCorruptCheckpoint),
                .meta("hang", String(decoding: (try? JSONEncoder().encode(hang)) ?? Data("{}".utf8), as: UTF8.self)),
            ]
        }

        init(meta: [String: String]) throws {
            guard let specText = meta["spec_text"], let nodes = meta["nodes"] else {
                throw GridRunError("the run store has no settings; it was not written by `baton grid`")
            }
            self.init(
                specPath: meta["spec_path"] ?? "spec.yaml", specText: specText, nodeNames: GridJSON.parseStringArray(nodes),
                hostSource: meta["host_source"] ?? "", executor: meta["executor"] ?? "local",
                heartbeatTimeout: Double(meta["heartbeat_timeout"] ?? "") ?? 10, coolDown: Double(meta["cool_down"] ?? "") ?? 60)
            onCorruptCheckpoint = meta["on_corrupt_checkpoint"] ?? "fail"
            healthTimeout = Double(meta["health_timeout"] ?? "") ?? 10
            hang = meta["hang"].flatMap { try? JSONDecoder().decode(HangSettings.self, from: Data($0.utf8)) } ?? HangSettings()
        }
    }

    /// Scheduler options from a spec and run settings.
    public static func options(spec: GridSpec, settings: Settings, runDir: String?) -> GridSchedulerOptions {
        var o = GridSchedulerOptions()
        o.heartbeatTimeout = settings.heartbeatTimeout
        o.lease = settings.heartbeatTimeout
        o.coolDown = settings.coolDown
        o.nodesPerConfig = spec.nodesPerConfig
        o.ranksPerNode = spec.ranksPerNode
        o.maxRetries = spec.maxRetries
        o.timeout = spec.timeout
        o.objective = spec.objective
        o.earlyStop = spec.earlyStop
        o.runDir = runDir
        if settings.onCorruptCheckpoint == "rollback", let runDir {
            o.rollback = { id in
                let sub = RunDirectory.Relative.configCheckpoint(id)
                do {
                    guard let r = try RunSnapshot.rollback(runDir: runDir, subdir: sub) else { return nil }
                    let passed = r.skipped.isEmpty ? "" : " (newer ones did not verify: \(r.skipped.joined(separator: ", ")))"
                    return "rolled back \(sub) to snapshot \(r.snapshotID), \(r.files) files\(passed); the unreadable one kept as \((r.keptAs as NSString).lastPathComponent)"
                } catch {
                    return "rollback failed: \(error)"
                }
            }
        }
        return o
    }

    /// Makes a new run directory with its store, settings and configs (all pending).
    /// Refuses a directory that already holds a run.
    public static func create(runDir: String, settings: Settings, configs: [GridConfig], durable: Bool = true) throws
        -> GridStore
    {
        let fm = FileManager.default
        if fm.fileExists(atPath: RunDirectory(runDir).gridStore) {
            throw GridRunError("\(runDir) already holds a grid run; continue it with `baton grid --resume \(runDir)` or pick another --run-dir")
        }
        try fm.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let store = try GridStore(runDir: runDir, create: true, durable: durable)
        try store.commit(settings.metaOps + [.meta("created_at", String(Date().timeIntervalSince1970))]
            + configs.map { .insertConfig($0) })
        return store
    }

    /// What a scheduler needs to continue a run whose head was killed or stopped.
    struct Resumption {
        var configs: [GridConfigRecord]
        var resumeFirst: [String]
        var nodeStates: [String: GridNodeRecord]
        var nextAttemptID: Int64
        /// Attempts found running from the previous head, and what became of them.
        var orphans: [(attempt: GridAttemptRecord, finished: Bool)]
        /// Every progress report committed so far, in order: the early-stopping rule's state.
        var progress: [GridProgressRecord] = []
    }

    /// Prepares a resume: adds configs a changed spec brings (matched by id, so a reordered
    /// or extended spec maps onto the stored configs), finds attempts the previous head left
    /// running, stops what is left of them (or takes the result they recorded), and commits
    /// all of that before anything new starts.
    static func prepareResume(store: GridStore, executor: ConfigExecutor, newConfigs: [GridConfig]?) throws
        -> Resumption
    {
        if let newConfigs { try store.commit(newConfigs.map { .insertConfig($0) }) }
        var snap = try store.snapshot()
        var ops: [GridStoreOp] = []
        var resumeFirst: [String] = []
        var orphans: [(GridAttemptRecord, Bool)] = []
        let now = executor.now()
        var maxID: Int64 = 0
        for (ci, c) in snap.configs.enumerated() {
            for a in c.attemptRecords {
                maxID = max(maxID, a.id)
                guard a.status == .running else { continue }
                let exit = executor.reapOrphan(attemptID: a.id, configID: c.id, attempt: a.number, pid: a.pid, session: a.session)
                if let exit, exit.succeeded {
                    // It finished while no head was watching; its result stands, no rerun.
                    ops.append(.endAttempt(id: a.id, endedAt: now, status: .done, exitCode: 0, reason: "finished while the head was down"))
                    ops.append(.config(id: c.id, status: .done, attempts: c.attempts, failures: c.failures,
                        metrics: GridStore.metricsJSON(exit.metrics), objective: nil, lastOutput: nil, finishedAt: now))
                    snap.configs[ci].status = .done
                    orphans.append((a, true))
                } else {
                    ops.append(.endAttempt(id: a.id, endedAt: now, status: .orphaned, exitCode: exit?.code,
                        reason: exit.map { "ended while the head was down: \($0.text)" } ?? "the head was killed; attempt stopped"))
                    ops.append(.config(id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil,
                        objective: nil, lastOutput: nil, finishedAt: nil))
                    snap.configs[ci].status = .pending
                    resumeFirst.append(c.id)
                    orphans.append((a, false))
                }
            }
            if c.status == .running && !resumeFirst.contains(c.id) && snap.configs[ci].status == .running {
                snap.configs[ci].status = .pending
                resumeFirst.append(c.id)
            }
        }
        ops.append(.event(time: now, kind: .run, configID: nil, node: nil,
            text: "resumed: \(orphans.count) orphaned attempts found, \(resumeFirst.count) configs resume first"))
        try store.commit(ops)
        // Objective values of orphans that finished are filled by the caller's spec on read.
        return Resumption(
            configs: snap.configs, resumeFirst: resumeFirst,
            nodeStates: Dictionary(uniqueKeysWithValues: snap.nodes.map { ($0.name, $0) }), nextAttemptID: maxID + 1,
            orphans: orphans, progress: try store.progress())
    }
}
