import BatonProtocol
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the supervisor sends what a person should see.
public protocol LaunchConsole: Sendable {
    /// A rank's output line (already filtered by `--ranks`).
    func rankLine(node: String, rank: Int, text: String, isError: Bool)
    /// The head's own messages and mpirun's untagged output.
    func message(_ text: String)
    /// A one-line status (live ranks, heartbeat age); a console may redraw it in place.
    func status(_ text: String)
    /// A line rank 0 wrote to its metrics file, as its wrapper forwarded it (a grid's head
    /// feeds them to its early-stopping rule). Called on an output reader's thread.
    func metric(_ line: String)
}

extension LaunchConsole {
    public func metric(_ line: String) {}
}

/// What the head does when a rank's command fails by itself on a healthy node (no node
/// lost): `--on-rank-failure`.
public enum RankFailurePolicy: String, Sendable, CaseIterable, Codable {
    /// End the job with the rank's failure (mpirun's and Slurm's behaviour; the default:
    /// a deterministic bug fails again on every attempt).
    case fail
    /// Restart the whole job on the same nodes from the last consumed count, counted
    /// against `--max-restarts` (torchrun's behaviour for a failed worker).
    case restart
}

/// Settings of `baton launch` beyond the plan.
public struct LaunchOptions: Sendable {
    public var hosts: HostList
    var planner: LaunchPlanner
    public var maxRestarts = 3
    var minNodes = 1
    public var heartbeatTimeout: Double = 10
    /// How long a node may stay silent before its first line (daemon and wrapper start-up).
    public var startupTimeout: Double = 30
    /// Ranks whose output is shown (nil: all). All of them go to the log files anyway.
    var shownRanks: Set<Int>?
    /// Writes the shards of an attempt for `world` ranks into `dir`, skipping the first
    /// `consumed` samples of the epoch; nil when the job is not sharded by Baton.
    var shardWriter: (@Sendable (_ world: Int, _ consumed: Int, _ dir: String) throws -> Void)?
    /// Samples of the epoch already consumed before the first attempt.
    var initialConsumed = 0
    /// The number of the first attempt (the grid's attempt number of a config, so
    /// BATON_ATTEMPT and BATON_RESTART_COUNT count over the config's attempts).
    public var firstAttempt = 1
    /// On node loss, how long mpirun gets after SIGTERM before SIGKILL (at most `grace`).
    var nodeLossWindow: Double = 1
    /// A rank that fails by itself: end the job, or restart it on the same nodes.
    var onRankFailure: RankFailurePolicy = .fail
    /// Hang detection (`ProgressWatch`) and what a hang leads to.
    var hang = ProgressWatch.Rule()
    var onHang: HangPolicy = .restart
    /// Straggler detection and what a straggler leads to.
    var stragglers = StragglerWatch.Rule()
    /// The records of attempts an earlier head of this run made (`--resume`): reported
    /// before this head's own.
    var priorAttempts: [AttemptRecord] = []
    /// With `--nnodes`, the pool an earlier head of this run left (`--resume`): the last
    /// attempt's nodes and the store's node rows (`HostPool.resume`).
    var resumedPool: (last: [String], rows: [LaunchNodeRow])?
    /// `--nnodes`: how many nodes an attempt runs on, the other hosts spares; nil: every host
    /// given, down to `--min-nodes`.
    var nnodes: NodeRange?
    /// How long a lost or suspect node stays out before the health gate may let it rejoin.
    var coolDown: Double = 60
    /// The health gate run on the nodes of every attempt before it starts; nil: none.
    var gate: HealthGate?
    /// `--grow-after`: grow back at a checkpoint (nil: at the next restart only).
    var grow: GrowWatch.Rule?

    /// Hang detection and `--on-hang` from the settings as given.
    public mutating func setHang(_ settings: HangSettings) throws(LaunchError) {
        hang = try settings.rule()
        onHang = settings.onHang
        stragglers.policy = settings.onStraggler
    }

    public init(hosts: HostList, planner: LaunchPlanner) {
        self.hosts = hosts
        self.planner = planner
    }
}

/// Runs a job attempt after attempt: watches liveness, tears down, restarts on survivors.
/// The one execution path: `--local`, the test bed, a Slurm allocation and real hosts all
/// come here with a host list; only where the nodes come from differs.
public final class LaunchSupervisor: @unchecked Sendable {
    let options: LaunchOptions
    let executor: JobExecutor
    let console: LaunchConsole
    /// Incremented by each Ctrl-C (`interrupt()`).
    let interrupts = Locked(0)
    /// Ranks that reported a step in some attempt of this head (`ProgressWatch.Rule.steppedBefore`).
    let steppedRanks = Locked<Set<Int>>([])
    /// The run's store (`RUN/launch.sqlite`): every transition is committed there before the
    /// head acts on it; events.jsonl and report.json are written from it afterwards.
    let store: LaunchStore
    let eventsFD: Int32
    /// Rank 0's metrics lines not yet committed (the output reader adds them; the head
    /// commits them with its next transition, or within a second).
    let pendingMetrics = Locked([LaunchStoreOp]())
    /// Set once a commit failed, so the console hears it once.
    private var storeFailed = false
    /// The gate on nodes outside the job while an attempt runs (nil without a gate).
    let probe: BackgroundGate?

    public init(options: LaunchOptions, executor: JobExecutor, console: LaunchConsole) throws(LaunchError) {
        self.options = options
        self.executor = executor
        self.console = console
        probe = options.gate.map { BackgroundGate(gate: $0) }
        do {
            try FileManager.default.createDirectory(atPath: options.planner.runDir, withIntermediateDirectories: true)
        } catch {
            throw LaunchError(.cannotStart, "cannot create the run directory \(options.planner.runDir): \(error.localizedDescription)")
        }
        do {
            store = try LaunchStore.forHead(runDir: options.planner.runDir)
        } catch {
            throw LaunchError(.cannotStart, "cannot open the run store \(LaunchStore.path(options.planner.runDir)): \(error)")
        }
        eventsFD = open(RunDirectory(options.planner.runDir).events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    }

    deinit { if eventsFD >= 0 { close(eventsFD) } }

    /// Asks the running job to stop (the CLI calls this on SIGINT/SIGTERM).
    public func interrupt() { interrupts.with { $0 += 1 } }

    /// Commits `ops` and the pending metrics lines in one transaction. A store that cannot
    /// be written (disk full) is reported once; the job goes on, and the files still follow.
    func commit(_ ops: [LaunchStoreOp]) {
        let all = pendingMetrics.with { p in defer { p.removeAll() }; return p } + ops
        do { try store.commit(all) } catch {
            if !storeFailed { console.message("baton launch: cannot write the run store \(LaunchStore.path(options.planner.runDir)): \(error)") }
            storeFailed = true
        }
    }

    /// An event: its kind and fields.
    typealias Event = (kind: LaunchEventKind, fields: [String: Any])

    /// Records events (wall-clock time in seconds since 1970) with the transition `ops` they
    /// announce, in one commit (one fsync), then appends them to `<run>/events.jsonl` (a view
    /// of the store's events table, line for line). `views` runs between the commit and the
    /// lines (the report.json of the end).
    func commitEvents(_ events: [Event], ops: [LaunchStoreOp] = [], views: () -> Void = {}) {
        let time = Date().timeIntervalSince1970
        var lines = ""
        var all = ops
        for e in events {
            var obj = e.fields
            obj["event"] = e.kind.rawValue
            obj["time"] = time
            guard let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { continue }
            let line = String(decoding: data, as: UTF8.self)
            lines += line + "\n"
            all.append(.event(time: time, kind: e.kind, node: nil, line: line))
        }
        commit(all)
        views()
        if !lines.isEmpty { writeAll(fd: eventsFD, lines) }
    }

    func event(_ kind: LaunchEventKind, _ fields: [String: Any] = [:], ops: [LaunchStoreOp] = []) {
        commitEvents([(kind, fields)], ops: ops)
    }

    /// Runs the job to its end and returns the report (its `exitCode` is baton's).
    public func run() -> LaunchReport {
        var hosts = options.hosts
        var attempt = options.firstAttempt
        var consumed = options.initialConsumed
        var records = options.priorAttempts
        let runDir = options.planner.runDir
        // The end of the last attempt, committed with what the head decides on it (a restart
        // or the end): one transaction, one fsync.
        var ended: [Event] = []
        var endedOps: [LaunchStoreOp] = []
        func finish(_ result: LaunchResult, _ reason: String, _ code: Int32) -> LaunchReport {
            var report = LaunchReport(result: result, reason: reason, attempts: records, exitCode: code, lastConsumed: consumed)
            commitEvents(ended + [(.end, ["result": result.rawValue, "reason": reason, "exitCode": Int(code)])],
                         ops: endedOps + [.end(result: result, reason: reason, exitCode: code, lastConsumed: consumed)]) {
                // report.json is the store's report (what `baton launch report RUN` prints),
                // written before the end event's line, as before the store.
                if let stored = (try? store.report()) ?? nil { report = stored }
                try? LaunchRunFiles.reportJSON(report).write(to: URL(fileURLWithPath: RunDirectory(runDir).report), options: .atomic)
            }
            return report
        }
        if let last = options.priorAttempts.last {
            // The earlier heads' attempts (the one a killed head never finished as head
            // lost), in the store before this head starts its own.
            let now = Date().timeIntervalSince1970
            event(.resume, ["attempt": attempt, "after": last.attempt, "consumed": consumed, "nodes": hosts.names],
                  ops: options.priorAttempts.map { .attemptEnd($0, endedAt: now) })
            console.message("baton launch: resuming after attempt \(last.attempt) (\(last.text))"
                            + (options.shardWriter != nil ? " from \(consumed) samples consumed" : ""))
        }
        var pool = HostPool(hosts: hosts, range: options.nnodes ?? NodeRange(min: max(options.minNodes, 1), max: max(hosts.hosts.count, 1)),
                            coolDown: options.coolDown, gating: options.gate != nil, measuring: options.gate?.bandwidth != nil,
                            now: Date().timeIntervalSince1970)
        if options.nnodes != nil, let r = options.resumedPool { pool.resume(last: r.last, rows: r.rows) }
        while true {
            // Committed with the restart that brought the loop here.
            ended = []
            endedOps = []
            switch selectHosts(&pool, attempt: attempt, lastWorld: records.last?.worldSize) {
            case .failure(let why): return finish(.failed, why.text, ExitCodes.jobFailed)
            case .success(let chosen): hosts = chosen
            }
            var shardDir: String?
            if let writer = options.shardWriter {
                let dir = RunDirectory(runDir).shards(attempt)
                do {
                    try writer(hosts.totalSlots, consumed, dir)
                } catch {
                    return finish(.failed, "cannot write the shards of attempt \(attempt): \(error)", ExitCodes.jobFailed)
                }
                shardDir = dir
            }
            let port = options.planner.masterPort == nil ? MasterPort.reserve(near: options.planner.masterAddress(hosts)) : nil
            defer { if let port { MasterPort.release(port) } }
            var plan = options.planner.plan(hosts: hosts, attempt: attempt, shardDir: shardDir, port: port,
                                            previousWorld: records.last?.worldSize)
            if options.nnodes != nil { plan.pool = pool.summary }
            try? FileManager.default.createDirectory(atPath: RunDirectory(runDir).attempts, withIntermediateDirectories: true)
            let planJSON = plan.json()
            try? planJSON.write(toFile: RunDirectory(runDir).attemptPlan(attempt), atomically: true, encoding: .utf8)
            let now = Date().timeIntervalSince1970
            event(.attemptStart, ["attempt": attempt, "nodes": hosts.names, "world": hosts.totalSlots, "consumed": consumed,
                                    "masterPort": plan.contract.masterPort],
                  ops: [.attemptStart(number: attempt, nodes: hosts.names, world: hosts.totalSlots, masterPort: plan.contract.masterPort,
                                      consumed: consumed, startedAt: now, plan: planJSON)]
                    + hosts.names.enumerated().map { .node(name: $1, position: $0, state: .healthy, since: now, attempt: attempt, signal: nil, cause: nil) })
            console.message("baton launch: attempt \(attempt) on \(hosts.hosts.count) nodes (\(hosts.names.joined(separator: ","))), \(hosts.totalSlots) ranks"
                            + (options.shardWriter != nil ? ", \(consumed) samples already consumed" : ""))
            let runner = AttemptRunner(supervisor: self, plan: plan, hosts: hosts, pool: pool,
                                       consumedAtStart: options.shardWriter != nil ? consumed : nil)
            let (record, endFields, reported) = runner.run()
            // Nodes the gate let back in while the attempt ran.
            pool = runner.pool
            ended = [(.attemptEnd, endFields)]
            endedOps = [.attemptEnd(record, endedAt: Date().timeIntervalSince1970)]
            if let c = reported { consumed = max(consumed, c) }
            // Lines in flight when mpirun aborted are lost; where the run directory is
            // shared (it must be for checkpoints to survive a node), the metrics files
            // themselves have the last word.
            if let c = Self.consumedInMetricsFiles(dir: RunDirectory(runDir).metrics(attempt)) { consumed = max(consumed, c) }
            let earlier = records
            records.append(record)
            var policy = RestartPolicy(maxRestarts: options.maxRestarts, minNodes: options.minNodes,
                                       onRankFailure: options.onRankFailure, firstAttempt: options.firstAttempt)
            policy.onHang = options.onHang
            policy.nnodes = options.nnodes
            switch policy.decide(after: record, on: hosts, earlier: earlier, standby: pool.standby(now: Date().timeIntervalSince1970)) {
            case .finish(let result, let reason, let code):
                return finish(result, reason, code)
            case .restart(let next, let lost, let cause, let message):
                var fields: [String: Any] = ["attempt": attempt + 1, "lost": lost, "survivors": next.names, "consumed": consumed]
                if let cause { fields["cause"] = cause }
                commitEvents(ended + [(.restart, fields)], ops: endedOps)
                console.message("baton launch: \(message)")
                pool.lose(lost, reason: cause ?? "lost in attempt \(attempt)", at: Date().timeIntervalSince1970)
                hosts = next
                attempt += 1
            }
        }
    }

    /// The largest `consumed` in any `*.jsonl` metrics file of `dir`. A rank's `consumed`
    /// only grows within an attempt, so each file's last lines are enough: its last 8 KiB
    /// (reading every line of every rank's file, between a crash and the restart, grew with
    /// ranks x steps).
    static func consumedInMetricsFiles(dir: String) -> Int? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        var best: Int?
        let tail: UInt64 = 8 * 1024
        for f in files where f.hasSuffix(".jsonl") {
            let path = "\(dir)/\(f)"
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            let size = UInt64(max(0, st.st_size))
            guard let bytes = readFile(path, from: size > tail ? size - tail : 0) else { continue }
            var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            if size > tail && !lines.isEmpty { lines.removeFirst() }  // cut in the middle
            for line in lines {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let c = (obj["consumed"] as? NSNumber)?.intValue else { continue }
                best = max(best ?? c, c)
            }
        }
        return best
    }
}
