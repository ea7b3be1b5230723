// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials

/// The one place a path inside a run directory is spelled, for every kind of run: what the
/// head keeps (its store, settings, views of the store), what each attempt leaves, what the
/// per-rank wrapper writes (rank logs, metrics) and reads (the head channel), what a grid
/// keeps per config, and the folders snapshots and `--local` nodes use.
///
/// It lives in BatonProtocol, not in the launcher: the run directory is part of what the
/// head and the wrapper agree on (the wrapper writes `logs/` and `metrics/` and reads
/// `attempts/attempt-N.head`), so both sides spell it from here. Which kind of run a
/// directory holds is decided in BatonRuns (`RunDirectory.kind`), which also owns the stores.
///
/// The layout, one line per path, is `schema`; docs/ARCHITECTURE.md carries it rendered
/// (a unit test keeps the two the same).
public struct RunDirectory: Sendable, Hashable {
    /// The run directory itself, as given.
    public let path: String

    public init(_ path: String) { self.path = path }

    /// `path` joined with `relative` (no doubled `/` when `path` ends with one).
    public func appending(_ relative: String) -> String {
        if path.isEmpty { return relative }
        return path.hasSuffix("/") ? path + relative : path + "/" + relative
    }

    /// Paths relative to the run directory: each spelled once, here. Their arguments are
    /// strings so that `schema` can render them with placeholders (`N`, `ID`, `NODE`).
    public enum Relative {
        // Both kinds of run.
        public static let headLog = "head.log"
        public static let snapshots = "snapshots"
        static func snapshot(_ id: String) -> String { "\(snapshots)/\(id)" }
        /// The manifest inside a snapshot folder (which `--to` may put outside the run).
        public static let snapshotManifest = "manifest.json"
        public static let local = "local"
        static let localAgent = "rsh-agent"
        static func localSession(_ node: String) -> String { "\(node).sid" }
        public static let localSessionSuffix = ".sid"

        // A launch run.
        public static let launchStore = "launch.sqlite"
        public static let settings = "launch.json"
        static let report = "report.json"
        public static let events = "events.jsonl"
        public static let headPID = "head.pid"
        static let exactlyOnce = "exactly-once.json"
        public static let trainerIDs = "ids"
        static let attempts = "attempts"
        static let attemptPrefix = "attempt-"
        static let planSuffix = ".plan.json"
        static func attemptPlan(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n)\(planSuffix)" }
        static func attemptRecord(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).record.json" }
        static func headChannel(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).head" }
        static func attemptTranscript(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).transcript.jsonl" }
        static func attemptScores(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).scores.json" }
        static func checkpointRequest(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).checkpoint-request" }
        static func attemptStacks(_ n: String) -> String { "\(attempts)/\(attemptPrefix)\(n).stacks" }
        static func rankStacks(_ n: String, _ rank: String) -> String { "\(attemptStacks(n))/rank-\(rank).txt" }
        static func shards(_ n: String) -> String { "shards/\(attemptPrefix)\(n)" }
        static func metrics(_ n: String) -> String { "metrics/\(attemptPrefix)\(n)" }
        static func rankMetrics(_ n: String, _ rank: String) -> String { "\(metrics(n))/rank-\(rank).jsonl" }
        static let logs = "logs"
        public static let logSuffix = ".log"
        static func rankLog(_ node: String, _ rank: String) -> String { "\(logs)/\(node).\(rank)\(logSuffix)" }
        public static let checkpoints = "checkpoints"

        // A grid run.
        public static let gridStore = "grid.sqlite"
        public static let stopRequest = "stop-requested"
        public static let configs = "configs"
        public static func config(_ id: String) -> String { "\(configs)/\(id)" }
        static let checkpoint = "checkpoint"
        public static func configCheckpoint(_ id: String) -> String { "\(config(id))/\(checkpoint)" }
        static func configAttemptLog(_ id: String, _ n: String) -> String { "\(config(id))/\(attemptPrefix)\(n)\(logSuffix)" }
        static func configAttemptMetrics(_ id: String, _ n: String) -> String { "\(config(id))/\(attemptPrefix)\(n).metrics.jsonl" }
        static func configAttemptLaunch(_ id: String, _ n: String) -> String { "\(config(id))/mpirun/\(attemptPrefix)\(n)" }
        static func nodeDown(_ node: String) -> String { "nodes/\(node).down" }

        /// The attempt number of `attempts/attempt-N.plan.json`'s file name, nil for any other name.
        public static func attemptNumber(planFile name: String) -> Int? {
            guard name.hasPrefix(attemptPrefix), name.hasSuffix(planSuffix) else { return nil }
            return Int(name.dropFirst(attemptPrefix.count).dropLast(planSuffix.count))
        }

        /// A directory component that holds checkpoints (a grid config's or a launch's).
        public static func isCheckpointFolder(_ name: Substring) -> Bool { name == checkpoint || name == checkpoints }
    }

    // MARK: Both kinds of run

    /// A detached head's output.
    public var headLog: String { appending(Relative.headLog) }
    /// Where a run's snapshots go unless `--to` names another folder.
    public var snapshots: String { appending(Relative.snapshots) }
    /// Simulated (`--local`) nodes: the rsh agent and each node's session file.
    public var local: String { appending(Relative.local) }

    // MARK: A launch run

    public var launchStore: String { appending(Relative.launchStore) }
    public var settings: String { appending(Relative.settings) }
    public var report: String { appending(Relative.report) }
    public var events: String { appending(Relative.events) }
    public var headPID: String { appending(Relative.headPID) }
    public var exactlyOnce: String { appending(Relative.exactlyOnce) }
    public var attempts: String { appending(Relative.attempts) }
    public func attemptPlan(_ attempt: Int) -> String { appending(Relative.attemptPlan(String(attempt))) }
    public func attemptRecord(_ attempt: Int) -> String { appending(Relative.attemptRecord(String(attempt))) }
    func headChannel(_ attempt: Int) -> String { appending(Relative.headChannel(String(attempt))) }
    public func attemptTranscript(_ attempt: Int) -> String { appending(Relative.attemptTranscript(String(attempt))) }
    public func attemptScores(_ attempt: Int) -> String { appending(Relative.attemptScores(String(attempt))) }
    public func checkpointRequest(_ attempt: Int) -> String { appending(Relative.checkpointRequest(String(attempt))) }
    public func attemptStacks(_ attempt: Int) -> String { appending(Relative.attemptStacks(String(attempt))) }
    public func rankStacks(_ attempt: Int, rank: Int) -> String { appending(Relative.rankStacks(String(attempt), String(rank))) }
    public func shards(_ attempt: Int) -> String { appending(Relative.shards(String(attempt))) }
    public func metrics(_ attempt: Int) -> String { appending(Relative.metrics(String(attempt))) }
    public func rankMetrics(_ attempt: Int, rank: Int) -> String { appending(Relative.rankMetrics(String(attempt), String(rank))) }
    public var logs: String { appending(Relative.logs) }
    func rankLog(node: String, rank: Int) -> String { appending(Relative.rankLog(node, String(rank))) }
    public var checkpoints: String { appending(Relative.checkpoints) }

    // MARK: A grid run

    public var gridStore: String { appending(Relative.gridStore) }
    public var stopRequest: String { appending(Relative.stopRequest) }
    public var configs: String { appending(Relative.configs) }
    public func config(_ id: String) -> String { appending(Relative.config(id)) }
    public func configCheckpoint(_ id: String) -> String { appending(Relative.configCheckpoint(id)) }
    public func configAttemptLog(_ id: String, attempt: Int) -> String { appending(Relative.configAttemptLog(id, String(attempt))) }
    public func configAttemptMetrics(_ id: String, attempt: Int) -> String {
        appending(Relative.configAttemptMetrics(id, String(attempt)))
    }
    /// The launch run directory of a config's attempt (its supervisor's store, report and
    /// attempt files, as any launch run's).
    public func configAttemptLaunch(_ id: String, attempt: Int) -> RunDirectory {
        RunDirectory(appending(Relative.configAttemptLaunch(id, String(attempt))))
    }
    /// Where `baton grid kill-node --down-for` leaves the time a node is back.
    public func nodeDown(_ node: String) -> String { appending(Relative.nodeDown(node)) }

    // MARK: Inside `local/`

    /// The rsh agent of simulated nodes in their folder `localDir` (a run's `local/`).
    public static func localAgent(in localDir: String) -> String { RunDirectory(localDir).appending(Relative.localAgent) }
    /// A simulated node's session file (the session id of what runs on it).
    public static func localSession(in localDir: String, node: String) -> String {
        RunDirectory(localDir).appending(Relative.localSession(node))
    }

    // MARK: The schema

    /// One path of the layout and what it holds.
    struct Entry: Sendable, Equatable {
        var path: String
        var about: String
    }

    /// Every path of a run directory, with placeholders (N: attempt number, R: rank,
    /// NODE: node name, ID: grid config id or snapshot id).
    static let schema: [(kind: String, entries: [Entry])] = [
        ("launch run", [
            Entry(path: Relative.launchStore, about: "the run store (SQLite): attempts, nodes, events, rank 0's metrics, how the launch ended"),
            Entry(path: Relative.settings, about: "the spec the launch was started with (`LaunchSpec` as JSON; `--resume` reads it)"),
            Entry(path: Relative.events, about: "the store's events, one JSON line each, appended after each commit"),
            Entry(path: Relative.report, about: "the store's report, written when the launch ends"),
            Entry(path: Relative.headPID, about: "the head's pid"),
            Entry(path: Relative.headLog, about: "a detached head's output"),
            Entry(path: Relative.attemptPlan("N"), about: "attempt N's plan (mpirun argv, environment, contract)"),
            Entry(path: Relative.attemptRecord("N"), about: "attempt N's record, as heads before the store wrote it (imported into the store once, when first read)"),
            Entry(path: Relative.headChannel("N"), about: "the head's messages to the ranks mpirun started on its own node"),
            Entry(path: Relative.attemptTranscript("N"), about: "what the head saw during attempt N"),
            Entry(path: Relative.attemptScores("N"), about: "each rank's straggler score and busy fraction while attempt N runs (rewritten every 5 s)"),
            Entry(path: Relative.checkpointRequest("N"), about: "the head asks attempt N for a checkpoint (`--grow-after`): written by every rank's wrapper, the command's BATON_CHECKPOINT_REQUEST"),
            Entry(path: Relative.rankStacks("N", "R"), about: "rank R's stacks, written when attempt N hung (`baton exec` asks the rank's helper, else a stack tool)"),
            Entry(path: Relative.shards("N") + "/", about: "the per-rank shard files of attempt N (BatonShard's layout)"),
            Entry(path: Relative.rankMetrics("N", "R"), about: "the metrics lines rank R wrote in attempt N"),
            Entry(path: Relative.rankLog("NODE", "R"), about: "rank R's output on NODE, appended over attempts"),
            Entry(path: Relative.checkpoints + "/", about: "the job's checkpoints (BATON_CHECKPOINT_DIR)"),
            Entry(path: Relative.exactlyOnce, about: "the test trainer's sample accounting (baton-test-trainer only)"),
            Entry(path: Relative.trainerIDs + "/", about: "the sample ids each rank of the test trainer consumed, per attempt segment"),
            Entry(path: Relative.local + "/", about: "simulated nodes (`--local`): the rsh agent and each node's session file"),
            Entry(path: Relative.snapshots + "/ID/", about: "a snapshot of the run (manifest.json and the copied files)"),
        ]),
        ("grid run", [
            Entry(path: Relative.gridStore, about: "the run store (SQLite): settings, spec, configs, attempts, nodes, events, progress reports and early-stopping decisions"),
            Entry(path: Relative.headPID, about: "the head's pid"),
            Entry(path: Relative.headLog, about: "a detached head's output"),
            Entry(path: Relative.stopRequest, about: "asks the running head to stop (`baton grid stop`)"),
            Entry(path: Relative.configCheckpoint("ID") + "/", about: "config ID's checkpoints, kept across its attempts"),
            Entry(path: Relative.configAttemptLog("ID", "N"), about: "the output of config ID's attempt N, lines tagged node:rank"),
            Entry(path: Relative.configAttemptMetrics("ID", "N"), about: "the metrics lines of config ID's attempt N"),
            Entry(path: Relative.configAttemptLaunch("ID", "N") + "/", about: "the launch run directory of config ID's attempt N (laid out as a launch run)"),
            Entry(path: Relative.nodeDown("NODE"), about: "NODE is down until the time it holds (`baton grid kill-node --down-for`)"),
            Entry(path: Relative.local + "/", about: "simulated nodes (`--local`): the rsh agent and each node's session file"),
            Entry(path: Relative.snapshots + "/ID/", about: "a snapshot of the run (manifest.json and the copied files)"),
        ]),
    ]

    /// `schema` as the Markdown docs/ARCHITECTURE.md carries between its run-directory markers.
    static func renderSchema() -> String {
        var out = "### The run directory\n\n"
        out += "Generated from `RunDirectory.schema` (Sources/BatonProtocol/RunDirectory.swift); a unit test checks this copy. "
        out += "N: attempt number, R: rank, NODE: node name, ID: config or snapshot id.\n"
        for (kind, entries) in schema {
            out += "\n| \(kind) | holds |\n|---|---|\n"
            for e in entries { out += "| `\(e.path)` | \(e.about) |\n" }
        }
        return out
    }
}
