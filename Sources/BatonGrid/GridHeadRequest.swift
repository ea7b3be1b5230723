import BatonLaunch
import BatonProtocol
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What one `baton grid` run asks of a head, as given: a new run (a spec and hosts) or a
/// resumed one (`resume`), and the head's own settings. A detached head is started with it
/// (`DetachedHead.detach`), never with a command line to parse again.
public struct GridHeadRequest: Codable, Sendable {
    /// The spec file; with `resume`, an optional changed spec whose new configs are added.
    public var spec: String?
    public var hosts = LaunchSpec.Hosts()
    public var runDir: String?
    public var resume: String?
    public var heartbeatTimeout = "10s"
    public var coolDown = "60s"
    public var healthTimeout = "10s"
    public var failNode: String?
    public var failAfter: String?
    public var failSignal = "KILL"
    public var quiet = false
    public var onCorruptCheckpoint: String?
    public var hang = HangSettings()
    public var snapshotEvery: String?
    public var snapshotOn: [String] = []
    public var keepSnapshots: Int?
    public var snapshotTo: String?

    public init() {}
}

extension GridHead {
    /// A checked request: the run exists (a new one is made here, all configs pending), and
    /// this is what its head runs with.
    public struct Prepared: Sendable {
        var request: GridHeadRequest
        /// The run directory as given, and absolute.
        public var dir: String
        var absDir: String
        var settings: GridRun.Settings
        public var spec: GridSpec
        /// Configs a changed spec adds to a resumed run.
        var newConfigs: [GridConfig]?
        var failures: [MpirunGridExecutor.Failure]
        var snapshots: SnapshotSchedule.Settings?
    }

    /// Checks a request and makes a new run's directory and store; `say` is told where
    /// Slurm's nodes came from.
    public static func prepare(_ r: GridHeadRequest, say: (String) -> Void) throws -> Prepared {
        func bad(_ text: String, _ code: Int32 = ExitCodes.badInput) -> GridRunError { GridRunError(text, exitCode: code) }
        guard let hb = parseDuration(r.heartbeatTimeout), hb > 0 else {
            throw bad("--heartbeat-timeout \(r.heartbeatTimeout) is not a duration (e.g. 10s)")
        }
        guard let cool = parseDuration(r.coolDown) else { throw bad("--cool-down \(r.coolDown) is not a duration (e.g. 60s)") }
        guard let healthTimeout = parseDuration(r.healthTimeout), healthTimeout > 0 else {
            throw bad("--health-timeout \(r.healthTimeout) is not a positive duration (e.g. 10s)")
        }
        var snapshots: SnapshotSchedule.Settings?
        do {
            snapshots = try SnapshotSchedule.Settings.parse(every: r.snapshotEvery, keep: r.keepSnapshots, to: r.snapshotTo, on: r.snapshotOn)
        } catch { throw bad("\(error)") }
        if let o = r.onCorruptCheckpoint, o != "fail" && o != "rollback" {
            throw bad("--on-corrupt-checkpoint: '\(o)' is not fail or rollback")
        }
        func specError(_ e: GridSpecError) -> GridRunError { bad("\(e)\nnothing was started") }
        let dir: String
        var newConfigs: [GridConfig]?
        let specDoc: GridSpec
        let settings: GridRun.Settings
        if let resume = r.resume {
            dir = resume
            let meta: [String: String]
            do { meta = try GridStore(runDir: dir).meta() } catch { throw bad("\(error)") }
            if let pid = alivePID(runDir: dir, meta: meta) {
                throw bad("a head (pid \(pid)) is still running this grid; stop it with `baton grid stop \(dir)`")
            }
            var s = try GridRun.Settings(meta: meta)
            do {
                if let spec = r.spec {
                    specDoc = try GridSpec.load(path: spec)
                    newConfigs = try GridExpansion.expand(specDoc)
                    s.specText = try String(contentsOfFile: spec, encoding: .utf8)
                    s.specPath = spec
                } else {
                    specDoc = try GridSpec.parse(s.specText, file: s.specPath)
                }
            } catch let e as GridSpecError { throw specError(e) }
            if let o = r.onCorruptCheckpoint { s.onCorruptCheckpoint = o }
            s.healthTimeout = healthTimeout
            settings = s
            // The run keeps its snapshot settings unless new ones are given.
            if snapshots == nil { snapshots = SnapshotSchedule.Settings(meta: meta) }
        } else {
            guard let spec = r.spec else { throw bad("give a spec file, or --resume RUN_DIR", ExitCodes.usage) }
            let configs: [GridConfig]
            do {
                specDoc = try GridSpec.load(path: spec)
                configs = try GridExpansion.expand(specDoc)
            } catch let e as GridSpecError { throw specError(e) }
            let source: HostSource
            do {
                source = try HostSource.resolve(hostfile: r.hosts.hostfile, hosts: r.hosts.hosts, local: r.hosts.local,
                                                environment: ProcessInfo.processInfo.environment)
            } catch { throw bad(error.description) }
            let nodeNames = source.hosts.names
            if case .slurm = source.kind { say("baton grid: nodes from \(source.description): \(nodeNames.joined(separator: ","))") }
            if nodeNames.count < specDoc.nodesPerConfig {
                throw bad("the spec asks for nodes_per_config \(specDoc.nodesPerConfig) but only \(nodeNames.count) nodes are given")
            }
            let base = ((spec as NSString).lastPathComponent as NSString).deletingPathExtension
            let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withYear, .withMonth, .withDay, .withTime])
            dir = r.runDir ?? "baton-runs/\(base)-\(stamp)"
            var s = GridRun.Settings(
                specPath: spec, specText: try String(contentsOfFile: spec, encoding: .utf8),
                nodeNames: nodeNames, hostSource: source.description, executor: source.isLocal ? "local" : "mpirun",
                heartbeatTimeout: hb, coolDown: cool)
            s.onCorruptCheckpoint = r.onCorruptCheckpoint ?? "fail"
            s.healthTimeout = healthTimeout
            do { try r.hang.validate() } catch { throw bad(error.message) }
            s.hang = r.hang
            settings = s
            do { _ = try GridRun.create(runDir: dir, settings: settings, configs: configs) } catch { throw bad("\(error)") }
        }
        let absDir = absolutePath(dir)

        var failures: [MpirunGridExecutor.Failure] = []
        if let failNode = r.failNode {
            guard let node = settings.nodeNames.firstIndex(of: failNode) else {
                throw bad("--fail-node \(failNode): no such node (nodes: \(settings.nodeNames.joined(separator: ", ")))")
            }
            guard let after = r.failAfter.flatMap({ parseDuration($0) }) else { throw bad("--fail-node needs --fail-after DURATION") }
            let sig: Int32 = r.failSignal.uppercased().hasSuffix("STOP") ? SIGSTOP : SIGKILL
            failures.append(.init(node: node, after: after, signal: sig, downFor: max(cool * 2, 60)))
        }
        return Prepared(request: r, dir: dir, absDir: absDir, settings: settings, spec: specDoc, newConfigs: newConfigs,
                        failures: failures, snapshots: snapshots)
    }

    /// Starts the head of a prepared run in a session of its own: it resumes the run made
    /// here, with this request's settings.
    public static func detach(_ p: Prepared) throws -> (pid: pid_t, log: String) {
        var r = p.request
        if r.resume == nil { r.spec = nil }
        r.resume = p.absDir
        r.runDir = nil
        r.hosts = .init()
        r.snapshotTo = p.snapshots?.root
        do { return try DetachedHead.detach(.grid, request: r, runDir: p.absDir) } catch {
            throw GridRunError("\(error)", exitCode: ExitCodes.jobFailed)
        }
    }

    /// The request a detached head was started with.
    public static func detached(request json: String) throws -> GridHeadRequest {
        try DetachedHead.request(GridHeadRequest.self, from: json)
    }

    /// How a head's run ended.
    public struct Ended: Sendable {
        /// The run directory as given.
        public var dir: String
        public var objective: GridObjective?
        public var outcome: GridOutcome
        /// The head was stopped by a signal (SIGINT, SIGTERM, SIGHUP), not `baton grid stop`.
        public var interrupted: Bool
        public var snapshot: GridSnapshot
    }

    /// Runs the head of a request in this process: takes SIGINT/SIGTERM/SIGHUP as a stop
    /// (before anything else, so that no thread is started with them unblocked), prepares the
    /// run, registers the head (`RUN/head.pid`, and its pid in the store), and runs the
    /// scheduler (`run(store:...)`) until the grid is done, stopped, or out of nodes.
    public static func run(_ r: GridHeadRequest, say: @escaping @Sendable (String) -> Void) throws -> Ended {
        let stop = Locked(false)
        let signals = HeadSignals.install { _ in stop.with { $0 = true } }
        let p = try prepare(r, say: say)
        let store: GridStore
        do { store = try GridStore(runDir: p.absDir) } catch { throw GridRunError("\(error)") }
        if p.settings.executor != "local" && !p.failures.isEmpty {
            throw GridRunError("--fail-node works on --local runs; on real nodes, fail them yourself (e.g. scripts/cluster crash NODE)",
                               exitCode: ExitCodes.usage)
        }
        do { try DetachedHead.register(runDir: p.absDir) } catch { throw GridRunError("\(error)") }
        say("baton grid: run directory \(p.dir)")
        let outcome = try run(store: store, settings: p.settings, spec: p.spec, runDir: p.absDir, newConfigs: p.newConfigs,
                              failures: p.failures, quiet: p.request.quiet, snapshots: p.snapshots,
                              interrupted: { stop.with { $0 } }, say: say)
        return Ended(dir: p.dir, objective: p.spec.objective, outcome: outcome, interrupted: signals.signal != nil,
                     snapshot: try store.snapshot())
    }

    /// What `baton grid stop` did.
    public enum Stopped: Sendable {
        /// The head stopped (its running attempts stopped, to resume first).
        case head(pid: Int32)
        /// No head was running: the attempts a killed head left were stopped and put back.
        case orphans(count: Int)
    }

    /// Stops the run in `runDir`: asks its head to stop and waits for it (at most 60 s), or,
    /// with no head, stops what a killed head left running and commits that.
    public static func stop(runDir: String) throws -> Stopped {
        let store: GridStore
        do { store = try GridStore(runDir: runDir) } catch { throw GridRunError("\(error)") }
        let meta = try store.meta()
        if let pid = alivePID(runDir: runDir, meta: meta) {
            _ = FileManager.default.createFile(atPath: RunDirectory(runDir).stopRequest, contents: nil)
            let stopped = Teardown.Target.processes { alivePID(runDir: runDir, meta: meta).map { [$0] } ?? [] }.waitUntilGone(atMost: 60)
            if !stopped {
                throw GridRunError("the head (pid \(pid)) did not stop within 60 s", exitCode: ExitCodes.jobFailed)
            }
            return .head(pid: pid)
        }
        let settings = try GridRun.Settings(meta: meta)
        let absDir = absolutePath(runDir)
        let executor = try executor(settings: settings, runDir: absDir)
        var ops: [GridStoreOp] = []
        var stopped = 0
        for c in try store.snapshot(events: 0).configs {
            for a in c.attemptRecords where a.status == "running" {
                _ = executor.reapOrphan(attemptID: a.id, configID: c.id, attempt: a.number, pid: a.pid, session: a.session)
                ops.append(.endAttempt(id: a.id, endedAt: executor.now(), status: "stopped", exitCode: nil, reason: "baton grid stop (no head)"))
                ops.append(.config(id: c.id, status: .pending, attempts: c.attempts, failures: c.failures, metrics: nil, objective: nil,
                                   lastOutput: nil, finishedAt: nil))
                stopped += 1
            }
        }
        try store.commit(ops)
        return .orphans(count: stopped)
    }
}
