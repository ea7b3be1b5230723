import BatonProtocol
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A launch that cannot start, or bad input: the Launch module's one error shape.
public struct LaunchError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// Bad input: nothing was started.
        public static let badInput = Code(name: "bad input")
        /// mpirun or the run directory could not be set up.
        public static let cannotStart = Code(name: "cannot start")
        /// A program Baton needs (mpirun) is not installed.
        public static let unavailable = Code(name: "unavailable")
        public var description: String { name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// How one attempt ended, as the head judged it.
public enum AttemptOutcome: String, Sendable, Codable, Equatable {
    /// Every rank exited 0.
    case completed
    /// Stopped from outside (Ctrl-C, SIGTERM, a grid that stops the attempt).
    case interrupted
    /// One or more nodes were lost (`AttemptRecord.lost` names them).
    case nodesLost = "nodes lost"
    /// A rank's command failed by itself on a healthy node (`failedRank`, `failedExit`).
    case commandFailed = "command failed"
    /// mpirun ended without a lost node or a failed rank to blame (`detail` says how).
    case mpirunFailed = "mpirun failed"
    /// mpirun could not be started, or its launch never started on any node (no node
    /// reported within the startup timeout; no node is blamed): `detail` says which.
    case failedToStart = "failed to start"
    /// The head ended (killed, its machine lost) while the attempt ran; written by the next
    /// head of the run (`baton launch --resume`), which found no record of the attempt's end.
    case headLost = "head lost"
}

/// Which signal convicted a node.
public enum LossSignal: String, Sendable, Codable, Equatable {
    /// mpirun said it lost the node's daemon ("lost communication with a remote daemon").
    case daemonLost = "daemon lost"
    /// The node's rsh agent (ssh, a local agent) ended while its ranks still ran.
    case agentEnded = "agent ended"
    /// The node sent nothing for the heartbeat timeout.
    case heartbeatTimeout = "heartbeat timeout"
    /// mpirun ended and none of the node's ranks ever said how they ended.
    case silentAtEnd = "silent at end"
}

/// What a lost node looked like when the head gave up on it.
public struct LostNode: Sendable, Codable, Equatable {
    public var node: String
    public var ranks: [Int]
    public var signal: LossSignal
    /// The same, for a person.
    public var cause: String
    /// Seconds between the node's last line and the head's decision (an upper bound on
    /// how long detection took from the failure).
    public var detectionSeconds: Double
}

/// The record of one attempt.
public struct AttemptRecord: Sendable, Codable, Equatable {
    public var attempt: Int
    public var nodes: [String]
    public var worldSize: Int
    public var masterPort: Int?
    public var consumedAtStart: Int?
    public var outcome: AttemptOutcome
    /// For `mpirunFailed` and `failedToStart`: what happened.
    public var detail: String?
    public var lost: [LostNode]
    public var failedRank: Int?
    public var failedNode: String?
    public var failedExit: RankExit?
    public var mpirunStatus: ExitStatus?
    /// Processes of the attempt still alive on reachable nodes when the head gave up
    /// waiting for them (goal: none).
    public var leftovers: [String]
    public var seconds: Double

    init(attempt: Int, nodes: [String], worldSize: Int) {
        self.attempt = attempt
        self.nodes = nodes
        self.worldSize = worldSize
        outcome = .mpirunFailed
        lost = []
        leftovers = []
        seconds = 0
    }

    /// One line for a person.
    public var text: String {
        switch outcome {
        case .mpirunFailed: return "mpirun failed (\(detail ?? mpirunStatus?.description ?? "killed"))"
        case .failedToStart: return "failed to start: \(detail ?? "")"
        case .headLost: return "head lost (\(detail ?? "no record of its end"))"
        default: return outcome.rawValue
        }
    }
}

/// How a launch ended.
public enum LaunchResult: String, Sendable, Codable, Equatable { case completed, failed, interrupted }

/// What `baton launch` reports at the end (printed, and written to `<run>/report.json`).
public struct LaunchReport: Sendable, Codable, Equatable {
    public var result: LaunchResult
    public var reason: String
    public var attempts: [AttemptRecord]
    public var exitCode: Int32
    public var lastConsumed: Int?

    public var summary: String {
        var lines = ["baton launch: \(result.rawValue): \(reason)"]
        for a in attempts {
            var l = "  attempt \(a.attempt) on \(a.nodes.joined(separator: ",")) (\(a.worldSize) ranks): \(a.text)"
            if let r = a.failedRank { l += "; first failure rank \(r) on \(a.failedNode ?? "?"): \(a.failedExit?.payload ?? "")" }
            for n in a.lost {
                l += "; lost \(n.node) (ranks \(n.ranks.map(String.init).joined(separator: ","))): \(n.cause), detected \(String(format: "%.1f", n.detectionSeconds)) s after its last line"
            }
            if !a.leftovers.isEmpty { l += "; still running after teardown: \(a.leftovers.joined(separator: ", "))" }
            lines.append(l)
        }
        return lines.joined(separator: "\n")
    }
}

/// Where the supervisor sends what a person should see.
public protocol LaunchConsole: Sendable {
    /// A rank's output line (already filtered by `--ranks`).
    func rankLine(node: String, rank: Int, text: String, isError: Bool)
    /// The head's own messages and mpirun's untagged output.
    func message(_ text: String)
    /// A one-line status (live ranks, heartbeat age); a console may redraw it in place.
    func status(_ text: String)
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
    public var planner: LaunchPlanner
    public var maxRestarts = 3
    public var minNodes = 1
    public var heartbeatTimeout: Double = 10
    /// How long a node may stay silent before its first line (daemon and wrapper start-up).
    public var startupTimeout: Double = 30
    /// Ranks whose output is shown (nil: all). All of them go to the log files anyway.
    public var shownRanks: Set<Int>?
    /// Writes the shards of an attempt for `world` ranks into `dir`, skipping the first
    /// `consumed` samples of the epoch; nil when the job is not sharded by Baton.
    public var shardWriter: (@Sendable (_ world: Int, _ consumed: Int, _ dir: String) throws -> Void)?
    /// Samples of the epoch already consumed before the first attempt.
    public var initialConsumed = 0
    /// The number of the first attempt (the grid's attempt number of a config, so
    /// BATON_ATTEMPT and BATON_RESTART_COUNT count over the config's attempts).
    public var firstAttempt = 1
    /// On node loss, how long mpirun gets after SIGTERM before SIGKILL (at most `grace`).
    public var nodeLossWindow: Double = 1
    /// A rank that fails by itself: end the job, or restart it on the same nodes.
    public var onRankFailure: RankFailurePolicy = .fail
    /// The records of attempts an earlier head of this run made (`--resume`): reported
    /// before this head's own.
    public var priorAttempts: [AttemptRecord] = []

    public init(hosts: HostList, planner: LaunchPlanner) {
        self.hosts = hosts
        self.planner = planner
    }
}

/// Runs a job attempt after attempt: watches liveness, tears down, restarts on survivors.
/// The one execution path: `--local`, the test bed, a Slurm allocation and real hosts all
/// come here with a host list; only where the nodes come from differs.
public final class LaunchSupervisor: @unchecked Sendable {
    public let options: LaunchOptions
    let executor: JobExecutor
    let console: LaunchConsole
    /// Incremented by each Ctrl-C (`interrupt()`).
    let interrupts = Locked(0)
    /// The run's store (`RUN/launch.sqlite`): every transition is committed there before the
    /// head acts on it; events.jsonl and report.json are written from it afterwards.
    let store: LaunchStore
    let eventsFD: Int32
    /// Rank 0's metrics lines not yet committed (the output reader adds them; the head
    /// commits them with its next transition, or within a second).
    let pendingMetrics = Locked([LaunchStoreOp]())
    /// Set once a commit failed, so the console hears it once.
    private var storeFailed = false

    public init(options: LaunchOptions, executor: JobExecutor, console: LaunchConsole) throws(LaunchError) {
        self.options = options
        self.executor = executor
        self.console = console
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
        eventsFD = open("\(options.planner.runDir)/events.jsonl", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
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

    /// An event: its name and fields.
    typealias Event = (name: String, fields: [String: Any])

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
            obj["event"] = e.name
            obj["time"] = time
            guard let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { continue }
            let line = String(decoding: data, as: UTF8.self)
            lines += line + "\n"
            all.append(.event(time: time, kind: e.name, node: nil, line: line))
        }
        commit(all)
        views()
        if !lines.isEmpty { writeAll(fd: eventsFD, lines) }
    }

    func event(_ name: String, _ fields: [String: Any] = [:], ops: [LaunchStoreOp] = []) {
        commitEvents([(name, fields)], ops: ops)
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
            commitEvents(ended + [("end", ["result": result.rawValue, "reason": reason, "exitCode": Int(code)])],
                         ops: endedOps + [.end(result: result, reason: reason, exitCode: code, lastConsumed: consumed)]) {
                // report.json is the store's report (what `baton launch report RUN` prints),
                // written before the end event's line, as before the store.
                if let stored = (try? store.report()) ?? nil { report = stored }
                try? LaunchRunFiles.reportJSON(report).write(to: URL(fileURLWithPath: "\(runDir)/report.json"), options: .atomic)
            }
            return report
        }
        if let last = options.priorAttempts.last {
            // The earlier heads' attempts (the one a killed head never finished as head
            // lost), in the store before this head starts its own.
            let now = Date().timeIntervalSince1970
            event("resume", ["attempt": attempt, "after": last.attempt, "consumed": consumed, "nodes": hosts.names],
                  ops: options.priorAttempts.map { .attemptEnd($0, endedAt: now) })
            console.message("baton launch: resuming after attempt \(last.attempt) (\(last.text))"
                            + (options.shardWriter != nil ? " from \(consumed) samples consumed" : ""))
        }
        while true {
            // Committed with the restart that brought the loop here.
            ended = []
            endedOps = []
            var shardDir: String?
            if let writer = options.shardWriter {
                let dir = "\(runDir)/shards/attempt-\(attempt)"
                do {
                    try writer(hosts.totalSlots, consumed, dir)
                } catch {
                    return finish(.failed, "cannot write the shards of attempt \(attempt): \(error)", ExitCodes.jobFailed)
                }
                shardDir = dir
            }
            let port = options.planner.masterPort == nil ? MasterPort.reserve(near: options.planner.masterAddress(hosts)) : nil
            defer { if let port { MasterPort.release(port) } }
            let plan = options.planner.plan(hosts: hosts, attempt: attempt, shardDir: shardDir, port: port)
            try? FileManager.default.createDirectory(atPath: "\(runDir)/attempts", withIntermediateDirectories: true)
            let planJSON = plan.json()
            try? planJSON.write(toFile: "\(runDir)/attempts/attempt-\(attempt).plan.json", atomically: true, encoding: .utf8)
            let now = Date().timeIntervalSince1970
            event("attempt-start", ["attempt": attempt, "nodes": hosts.names, "world": hosts.totalSlots, "consumed": consumed,
                                    "masterPort": plan.contract.masterPort],
                  ops: [.attemptStart(number: attempt, nodes: hosts.names, world: hosts.totalSlots, masterPort: plan.contract.masterPort,
                                      consumed: consumed, startedAt: now, plan: planJSON)]
                    + hosts.names.enumerated().map { .node(name: $1, position: $0, state: .healthy, since: now, attempt: attempt, signal: nil, cause: nil) })
            console.message("baton launch: attempt \(attempt) on \(hosts.hosts.count) nodes (\(hosts.names.joined(separator: ","))), \(hosts.totalSlots) ranks"
                            + (options.shardWriter != nil ? ", \(consumed) samples already consumed" : ""))
            let (record, endFields) = runAttempt(plan, hosts: hosts, consumedAtStart: options.shardWriter != nil ? consumed : nil)
            ended = [("attempt-end", endFields)]
            endedOps = [.attemptEnd(record, endedAt: Date().timeIntervalSince1970)]
            if let c = lastConsumedReported { consumed = max(consumed, c) }
            // Lines in flight when mpirun aborted are lost; where the run directory is
            // shared (it must be for checkpoints to survive a node), the metrics files
            // themselves have the last word.
            if let c = Self.consumedInMetricsFiles(dir: "\(runDir)/metrics/attempt-\(attempt)") { consumed = max(consumed, c) }
            records.append(record)
            switch record.outcome {
            case .completed:
                return finish(.completed, "every rank exited 0 (attempt \(attempt))", ExitCodes.success)
            case .interrupted:
                return finish(.interrupted, "stopped by Ctrl-C / SIGTERM", ExitCodes.interrupted)
            case .nodesLost:
                let lost = Set(record.lost.map(\.node))
                let survivors = hosts.removing(lost)
                let restartsUsed = attempt - options.firstAttempt
                if survivors.hosts.count >= options.minNodes && !survivors.hosts.isEmpty && restartsUsed < options.maxRestarts {
                    commitEvents(ended + [("restart", ["attempt": attempt + 1, "lost": Array(lost).sorted(), "survivors": survivors.names,
                                                      "consumed": consumed])], ops: endedOps)
                    console.message("baton launch: lost \(lost.sorted().joined(separator: ",")); restarting on \(survivors.names.joined(separator: ",")) (restart \(restartsUsed + 1) of \(options.maxRestarts))")
                    hosts = survivors
                    attempt += 1
                    continue
                }
                let why = survivors.hosts.count < max(options.minNodes, 1)
                    ? "\(survivors.hosts.count) nodes left, --min-nodes is \(options.minNodes)"
                    : "no restart left (--max-restarts \(options.maxRestarts))"
                return finish(.failed, "lost \(lost.sorted().joined(separator: ",")); \(why)", ExitCodes.jobFailed)
            case .commandFailed, .mpirunFailed, .failedToStart, .headLost:
                var reason = record.text
                if let r = record.failedRank { reason += ": rank \(r) on \(record.failedNode ?? "?") ended with \(record.failedExit?.payload ?? "?")" }
                if record.outcome == .commandFailed && options.onRankFailure == .restart {
                    let restartsUsed = attempt - options.firstAttempt
                    if restartsUsed < options.maxRestarts {
                        commitEvents(ended + [("restart", ["attempt": attempt + 1, "lost": [String](), "survivors": hosts.names,
                                                          "consumed": consumed, "cause": reason])], ops: endedOps)
                        console.message("baton launch: \(reason); restarting on the same nodes \(hosts.names.joined(separator: ",")) (--on-rank-failure restart; restart \(restartsUsed + 1) of \(options.maxRestarts))")
                        attempt += 1
                        continue
                    }
                    reason += "; no restart left (--max-restarts \(options.maxRestarts))"
                }
                return finish(.failed, reason, ExitCodes.jobFailed)
            }
        }
    }

    private var lastConsumedReported: Int?

    /// The largest `consumed` in any `*.jsonl` metrics file of `dir`.
    static func consumedInMetricsFiles(dir: String) -> Int? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        var best: Int?
        for f in files where f.hasSuffix(".jsonl") {
            guard let text = try? String(contentsOfFile: "\(dir)/\(f)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let c = (obj["consumed"] as? NSNumber)?.intValue else { continue }
                best = max(best ?? c, c)
            }
        }
        return best
    }

    /// One attempt: start, watch, decide, and make sure nothing of it is left where this
    /// machine can see before returning.
    /// Returns the attempt's record and its `attempt-end` event's fields, which `run`
    /// commits with its decision on the attempt.
    func runAttempt(_ plan: LaunchPlan, hosts: HostList, consumedAtStart: Int?) -> (AttemptRecord, [String: Any]) {
        let start = monotonicNow()
        let monitor = Locked(HeartbeatMonitor(hosts: hosts, timeout: options.heartbeatTimeout, start: start,
                                                      startupTimeout: options.startupTimeout))
        let tail = Locked([String]())
        let mpirunNamedLoss = Locked(false)
        let mpirunAborting = Locked(false)
        /// When mpirun's output first said it was aborting (monotonic seconds).
        let abortSaidAt = Locked<Double?>(nil)
        let shown = options.shownRanks
        let console = self.console
        let placements = RankPlacement.all(hosts)
        var record = AttemptRecord(attempt: plan.attempt, nodes: hosts.names, worldSize: hosts.totalSlots)
        record.masterPort = plan.contract.masterPort
        record.consumedAtStart = consumedAtStart
        let pendingMetrics = self.pendingMetrics
        let job: RunningJob
        do {
            job = try executor.start(plan) { line, source in
                if let t = TaggedLine.decode(line), monitor.with({ $0.record(t, at: monotonicNow()) }) {
                    switch t.kind {
                    case .out, .err:
                        if shown?.contains(t.rank) ?? true { console.rankLine(node: t.node, rank: t.rank, text: t.payload, isError: t.kind == .err) }
                    case .fence: console.message("baton launch: \(t.node):\(t.rank) fenced itself: \(t.payload)")
                    case .note where !t.payload.hasPrefix("received "): console.message("baton exec \(t.node):\(t.rank): \(t.payload)")
                    case .metric where t.rank == 0:
                        let op = LaunchStoreOp.metric(attempt: plan.attempt, rank: 0, time: Date().timeIntervalSince1970, line: t.payload)
                        pendingMetrics.with { $0.append(op) }
                    default: break
                    }
                } else {
                    tail.with { $0.append(line); if $0.count > 200 { $0.removeFirst() } }
                    if line.contains("Remote daemon") { mpirunNamedLoss.with { $0 = true } }
                    if line.contains("has been aborted") || line.contains("mpirun noticed that process rank")
                        || line.contains("abort is already in progress") || line.contains("unable to reliably start") {
                        mpirunAborting.with { $0 = true }
                        abortSaidAt.with { if $0 == nil { $0 = monotonicNow() } }
                    }
                    if !line.isEmpty { console.message("mpirun: \(line)") }
                }
            }
        } catch {
            record.outcome = .failedToStart
            record.detail = "\(error)"
            return (record, ["attempt": plan.attempt, "outcome": record.outcome.rawValue, "mpirun": "not started"])
        }
        let sweep = AttemptSweep(token: plan.mpirunEnvironment[LaunchPlanner.attemptTokenVariable] ?? "",
                                 simulated: { if case .local = options.planner.mode { return true } else { return false } }())
        var agents = AgentWatch(mpirun: job.pid, hosts: hosts.names)
        var lastAgentScan = 0.0

        // Leases: renewed every heartbeat interval while the head trusts the job.
        let leasing = Locked(true)
        let lastRenewal = Locked(monotonicNow())
        let attemptNo = plan.attempt
        let interval = min(plan.heartbeat, plan.lease / 4)
        startThread("baton-launch-lease") {
            var seq = 0
            while leasing.get {
                if job.send(.lease(attempt: attemptNo, sequence: seq)) { lastRenewal.with { $0 = monotonicNow() } }
                seq += 1
                usleep(UInt32(interval * 1_000_000))
            }
        }
        func stopLeases() { leasing.with { $0 = false } }

        /// SIGTERM to mpirun, then SIGKILL once mpirun has ended, or every rank outside
        /// `lost` has reported its end, or the window is over. On node loss the window is
        /// short (`nodeLossWindow`): the job cannot progress without the lost node, and
        /// mpirun often hangs in its own abort with its output stalled. Ranks on surviving
        /// nodes are stopped by their daemons, and wrappers fence when their daemon goes.
        func teardown(lost: Set<String> = []) {
            stopLeases()
            job.terminate()
            let window = lost.isEmpty ? plan.grace : min(plan.grace, options.nodeLossWindow)
            let deadline = monotonicNow() + window
            func survivorsDone() -> Bool {
                monitor.with { m in m.ranks.values.allSatisfy { lost.contains($0.node) || $0.exit != nil || $0.fenced != nil } }
            }
            while job.poll() == nil && monotonicNow() < deadline && !survivorsDone() { usleep(20_000) }
            if job.poll() == nil {
                event("sigkill-mpirun", ["attempt": attemptNo])
                job.kill()
                let d2 = monotonicNow() + 5
                while job.poll() == nil && monotonicNow() < d2 { usleep(20_000) }
            }
            // Daemons may hold mpirun's output open a little longer; a torn-down attempt's
            // last lines are not worth waiting for on node loss.
            let d3 = monotonicNow() + (lost.isEmpty ? 2 : 0.3)
            while !job.outputFinished && monotonicNow() < d3 { usleep(20_000) }
        }

        /// Waits out the lease of nodes that may still run cut off from us, so two
        /// attempts never overlap: their wrappers fence at last renewal + lease.
        func waitForFencing() {
            let until = lastRenewal.get + plan.lease + 0.5
            event("fence-wait", ["attempt": attemptNo, "seconds": max(0, until - monotonicNow())])
            while monotonicNow() < until { usleep(50_000) }
        }

        func lostNodes(_ nodes: [String], _ signal: LossSignal, _ cause: String, at decided: Double, silentFor: [String: Double] = [:]) {
            let m = monitor.get
            record.outcome = .nodesLost
            record.lost = nodes.sorted().map { n in
                LostNode(node: n, ranks: placements.filter { $0.node == n }.map(\.rank), signal: signal, cause: cause,
                         detectionSeconds: silentFor[n] ?? (decided - (m.lastSeen[n] ?? start)))
            }
            // Committed before the teardown it leads to.
            let now = Date().timeIntervalSince1970
            event("node-lost", ["attempt": attemptNo, "nodes": nodes.sorted(), "how": signal.rawValue,
                                "detection": record.lost.map(\.detectionSeconds).max() ?? 0],
                  ops: record.lost.map { n in
                      .node(name: n.node, position: hosts.names.firstIndex(of: n.node) ?? 0, state: .lost, since: now,
                            attempt: attemptNo, signal: n.signal, cause: n.cause)
                  })
        }

        var interruptsSeen = 0
        var abortSeenAt: Double?
        /// Agent ends that can accuse a node: in an abort mpirun ends every agent itself, so
        /// only ends noticed by shortly after mpirun first said it was aborting count (an
        /// agent that died with its node is what makes mpirun abort; the others' ends come
        /// after their ranks were told to stop, which makes them speak).
        func agentEndsBeforeAbort() -> [String: Double] {
            let cutoff = abortSaidAt.get.map { $0 + 0.15 } ?? .infinity
            return agents.ended.filter { $0.value <= cutoff }
        }

        /// The nodes an agent end accuses: ended agents whose node still had a rank
        /// running, preferring those none of whose ranks said anything of their end.
        func accusedByAgents(_ ended: [String: Double]) -> [String] {
            let m = monitor.get
            let unfinished = m.nodesWithUnfinishedRanks
            let candidates = ended.keys.filter { unfinished.contains($0) }
            let silent = m.silentNodes
            let quiet = candidates.filter { silent.contains($0) }
            return (quiet.isEmpty ? candidates : quiet).sorted()
        }

        /// Decides an attempt whose mpirun has ended (or was stopped after its abort):
        /// nodes mpirun or an agent's end named as lost, else the rank that failed first by
        /// itself, else nodes none of whose ranks said anything about their end.
        func classifyEnd(_ st: ExitStatus?) {
            record.mpirunStatus = st
            let m = monitor.get
            lastConsumedReported = m.consumed
            let decided = monotonicNow()
            if interruptsSeen > 0 {
                record.outcome = .interrupted
                return
            }
            // mpirun exits 0 only when every process did: the last exit lines may still be
            // in flight, but nothing was lost.
            if st == .exited(0) {
                record.outcome = .completed
                return
            }
            let named = nodesNamedLost(inMpirunOutput: tail.get).intersection(hosts.names)
            let byAgent = m.heard.isEmpty ? [] : accusedByAgents(agentEndsBeforeAbort())
            let silent = m.silentNodes
            if let f = m.firstFailure, named.isEmpty {
                record.outcome = .commandFailed
                record.failedRank = f.rank
                record.failedNode = f.node
                record.failedExit = f.exit
            } else if !named.isEmpty {
                lostNodes(Array(named), .daemonLost, "mpirun reported the node's daemon lost", at: decided)
            } else if !byAgent.isEmpty {
                lostNodes(byAgent, .agentEnded, "its rsh agent ended while its ranks ran", at: decided)
            } else if !m.heard.isEmpty && !silent.isEmpty && silent.count < hosts.hosts.count {
                lostNodes(Array(silent), .silentAtEnd,
                          "mpirun exited (\(st?.description ?? "killed")) and the node's ranks never reported their end", at: decided)
            } else {
                record.outcome = .mpirunFailed
                record.detail = st?.description ?? "killed"
            }
        }

        var lastStatus = 0.0
        var interruptDeadline: Double?
        loop: while true {
            let now = monotonicNow()
            if let st = job.poll() {
                stopLeases()
                let d = monotonicNow() + 2
                while !job.outputFinished && monotonicNow() < d { usleep(1_000) }
                agents.scan(at: monotonicNow())
                classifyEnd(st)
                break
            }
            // The agents: each one's end while its node still ran is a node loss. Looked at
            // every 30 ms, and at once when mpirun says it aborts (it ends the other agents
            // itself soon after).
            if interruptsSeen == 0 && (now - lastAgentScan >= 0.03 || (abortSaidAt.get != nil && abortSeenAt == nil)) {
                lastAgentScan = now
                agents.scan(at: now)
                let ends = agentEndsBeforeAbort()
                if !ends.isEmpty && monitor.get.firstFailure == nil && !monitor.get.heard.isEmpty && !accusedByAgents(ends).isEmpty {
                    // At a clean end the agents end too, just before mpirun exits 0: a lagging
                    // reader must not turn that into a loss. Looked at first, so a clean end
                    // is taken as soon as mpirun exits (it used to wait the 50 ms below too).
                    let seen = monotonicNow()
                    if let st = job.waitForExit(atMost: 0.25), st == .exited(0) { continue }
                    // A rank that failed by itself makes mpirun end every agent: its exit line
                    // comes first on the same channel, so let the reader catch up (at least
                    // 50 ms after the agent's end was seen) before judging.
                    let caughtUp = seen + 0.05 - monotonicNow()
                    if caughtUp > 0 { usleep(UInt32(caughtUp * 1e6)) }
                    let accused = accusedByAgents(agentEndsBeforeAbort())
                    if monitor.get.firstFailure == nil && !accused.isEmpty {
                        lostNodes(accused, .agentEnded, "its rsh agent (mpirun's child for that host) ended while its ranks ran", at: monotonicNow())
                        console.message("baton launch: the agent of \(accused.joined(separator: ",")) ended; stopping attempt \(attemptNo)")
                        teardown(lost: Set(accused))
                        record.mpirunStatus = job.poll()
                        lastConsumedReported = monitor.get.consumed
                        // Gone for sure only when this machine can see the node's processes and
                        // none is left; else (ssh to a real host) its wrappers may live on cut
                        // off: wait out their lease.
                        let gone = sweep.nodesAreGone(accused)
                        event("agent-loss-check", ["attempt": attemptNo, "gone": gone])
                        if !gone { waitForFencing() }
                        break loop
                    }
                }
            }
            // mpirun stops forwarding output once it aborts a job (a rank failed), and may
            // then hang: heartbeats stall on every node. So an abort is not judged by
            // heartbeats: give mpirun a moment, then stop it and judge by what was said.
            if mpirunAborting.get && !mpirunNamedLoss.get {
                if abortSeenAt == nil { abortSeenAt = now }
                if now - abortSeenAt! >= options.nodeLossWindow {
                    teardown(lost: Set(hosts.names))
                    classifyEnd(job.poll())
                    break
                }
                usleep(20_000)
                continue
            }
            // mpirun names a daemon it lost before it exits (and sometimes never exits).
            // Its wrappers have lost their stdin with it, so no lease wait is needed.
            if mpirunNamedLoss.get && interruptsSeen == 0 {
                let named = nodesNamedLost(inMpirunOutput: tail.get).intersection(hosts.names)
                if !named.isEmpty {
                    lostNodes(Array(named), .daemonLost, "mpirun lost communication with its daemon", at: now)
                    teardown(lost: named)
                    record.mpirunStatus = job.poll()
                    lastConsumedReported = monitor.get.consumed
                    break
                }
            }
            let overdue = monitor.with { $0.overdue(at: now) }
            // No node has said anything: the launch itself never started (under Slurm, an
            // srun step that pends). That says nothing against any node: blame none.
            if !overdue.isEmpty && interruptsSeen == 0 && monitor.get.heard.isEmpty {
                let silent = overdue.map(\.node)
                record.outcome = .failedToStart
                record.detail = "no node reported within the startup timeout (\(LaunchPlanner.seconds(options.startupTimeout))): "
                    + "\(silent.joined(separator: ",")) never reported; the launch did not start (no node is blamed)"
                event("never-started", ["attempt": attemptNo, "silent": silent])
                console.message("baton launch: attempt \(attemptNo) never started: \(silent.joined(separator: ",")) never reported within \(LaunchPlanner.seconds(options.startupTimeout)); stopping it")
                // The short window: nothing of the job runs that a longer grace would help.
                teardown(lost: Set(hosts.names))
                record.mpirunStatus = job.poll()
                waitForFencing()
                break
            }
            if !overdue.isEmpty && interruptsSeen == 0 {
                var silentFor: [String: Double] = [:]
                for o in overdue { silentFor[o.node] = o.silentFor }
                lostNodes(overdue.map(\.node), .heartbeatTimeout, "heartbeat timeout (\(LaunchPlanner.seconds(options.heartbeatTimeout)))",
                          at: now, silentFor: silentFor)
                console.message("baton launch: no heartbeat from \(overdue.map { "\($0.node) for \(String(format: "%.1f", $0.silentFor)) s" }.joined(separator: ", ")); stopping attempt \(attemptNo)")
                let m = monitor.get
                teardown(lost: Set(overdue.map(\.node)))
                record.mpirunStatus = job.poll()
                lastConsumedReported = monitor.get.consumed ?? m.consumed
                waitForFencing()
                break
            }
            let ints = interrupts.get
            if ints > interruptsSeen {
                if interruptsSeen == 0 {
                    event("interrupt", ["attempt": attemptNo])
                    console.message("baton launch: interrupted; SIGINT to every rank, \(LaunchPlanner.seconds(plan.grace)) grace (Ctrl-C again to stop at once)")
                    job.send(.signal(attempt: attemptNo, signal: SIGINT))
                    interruptDeadline = now + plan.grace
                } else {
                    interruptDeadline = now
                }
                interruptsSeen = ints
            }
            if let d = interruptDeadline, now >= d {
                interruptDeadline = nil
                teardown()
                continue
            }
            if now - lastStatus >= 1 {
                lastStatus = now
                if !pendingMetrics.get.isEmpty { commit([]) }
                let m = monitor.get
                console.status(String(format: "[attempt %d] %d/%d ranks live, oldest heartbeat %.1f s", attemptNo, m.liveRanks, hosts.totalSlots, m.oldestHeartbeatAge(at: now)))
            }
            // Up to 10 ms between checks, but back at once when mpirun ends.
            job.waitForEnd(timeout: 0.01)
        }
        stopLeases()
        if job.poll() == nil {
            job.kill()
            _ = job.waitForExit(atMost: 5)
        }
        // Nothing of this attempt may outlive it on a node this machine can reach: not
        // the next attempt's neighbour, and not past `baton launch`'s own end.
        let lost = Set(record.lost.map(\.node))
        let (killed, left) = sweep.clear(excluding: lost, within: 5)
        if !left.isEmpty {
            record.leftovers = left
            console.message("baton launch: still running after 5 s of teardown: \(left.joined(separator: ", "))")
        }
        executor.finished(plan)
        record.seconds = monotonicNow() - start
        return (record, ["attempt": attemptNo, "outcome": record.outcome.rawValue, "mpirun": record.mpirunStatus?.description ?? "killed",
                         "swept": killed, "leftovers": left.count])
    }
}
