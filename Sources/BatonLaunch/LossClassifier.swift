import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation

/// What the head learns while one attempt runs, in the order it learns it. The attempt
/// runner turns what its threads see into these; the classifier judges them. A recorded
/// list of them (`AttemptTranscript`) replays a run's judgement exactly.
enum AttemptEvent: Sendable, Equatable {
    /// A wrapper's tagged line (any kind: a sign of life; exits, fences and stop notes say
    /// how a rank ended).
    case tagged(TaggedLine)
    /// A line of mpirun's own output (untagged).
    case mpirun(String)
    /// The rsh agent of this node (mpirun's child for it) ended.
    case agentEnded(node: String)
    /// Ctrl-C or SIGTERM reached the head.
    case interrupt
    /// mpirun ended (nil: its status is unknown, it was killed and reaped elsewhere).
    case mpirunExited(ExitStatus?)
    /// A node outside the job passed the health gate while the attempt ran: it is back in
    /// the pool (`--grow-after` may grow the world with it).
    case spareReady(node: String)
    /// Time passed; nothing else happened.
    case tick
}

/// What the classifier decided, for the runner to carry out.
enum LossAction: Sendable, Equatable {
    /// The first Ctrl-C: forward SIGINT to every rank, and stop the job after the grace.
    case forwardInterrupt
    /// The grace after Ctrl-C is over: stop the job with the full grace, then report
    /// mpirun's end. `atOnce` (Ctrl-C came again, or a grid stopping a config): the short
    /// window instead, as on node loss; the ranks already had their SIGINT.
    case stopJob(atOnce: Bool)
    /// mpirun is aborting the job and may hang there: stop it at once (short window), then
    /// report its end, which is judged by what was said.
    case stopAborted
    /// Nodes are lost while mpirun still runs: commit the verdict, stop the job sparing
    /// nothing but the lost nodes (short window), then fence as `fence` says. Final.
    case nodesLost(AttemptVerdict, fence: FenceRule)
    /// No node reported within the startup timeout: the launch never started; stop it and
    /// wait out the lease (no node is blamed). Final.
    case neverStarted(AttemptVerdict)
    /// mpirun has ended: the verdict on the attempt. Final.
    case ended(AttemptVerdict)
    /// A rank that reports progress went past its budget without any (`ProgressWatch`):
    /// collect every rank's stacks, judge the culprit, then stop the job. Final.
    case hung(HangFinding)
    /// A rank slower than the others (`StragglerWatch`): say so; the job goes on.
    case straggler(StragglerFinding)
    /// Nodes are back in the pool (`GrowWatch`): ask every rank for a checkpoint.
    case requestCheckpoint(nodes: [String])
    /// The job checkpointed after the request: stop it with the full grace, so the next
    /// attempt grows with `nodes`. Final.
    case grow(AttemptVerdict, nodes: [String])
    /// No checkpoint came within `--grow-wait`: say so; the job goes on.
    case growGivenUp(nodes: [String], reason: String)
}

/// When the runner must wait out the lease before the next attempt may start.
enum FenceRule: String, Sendable, Equatable {
    /// The lost nodes' wrappers have lost their daemon, and with it their stdin: they fence
    /// at once.
    case none
    /// Wait unless this machine can see that the lost nodes' processes are gone.
    case unlessGone = "unless gone"
    /// The node may run on cut off from the head: wait out its lease.
    case always
}

/// How the classifier judged an attempt.
struct AttemptVerdict: Sendable, Equatable {
    var outcome: AttemptOutcome
    var lost: [LostNode] = []
    var failedRank: Int?
    var failedNode: String?
    var failedExit: RankExit?
    /// For `mpirunFailed` and `failedToStart`: what happened.
    var detail: String?
    /// What the head says when it acts on the verdict (nil: nothing beyond the record).
    var message: String?

    init(outcome: AttemptOutcome) { self.outcome = outcome }
}

/// The head's judgement of one attempt: a pure function of `AttemptEvent`s and their
/// times, with no clock, thread or process of its own. Every rule about which node is lost,
/// and how that was seen, is here (Open MPI's messages in `OpenMPIMessage`), so a recorded
/// run replays to the same verdict in a unit test.
///
/// The rules, in the order they are applied while mpirun runs:
/// 1. An rsh agent that ends while its node still has a rank running accuses that node
///    (ssh says nothing of its own; an agent inside the node dies with it). In an abort
///    mpirun ends every agent itself, so only ends seen by `agentCutoff` after mpirun first
///    said it was aborting count. A clean end also ends every agent just before mpirun
///    exits 0, so the accusation waits `agentSettle` for that exit. A rank that failed by
///    itself makes mpirun end every agent too: it blocks the accusation, unless some agent
///    ended abnormally (rule 5) and the failed rank's node is the accused one.
/// 2. mpirun aborting (a rank failed, or a daemon did): judged by what it said, after a
///    short window (`nodeLossWindow`), since an aborting mpirun stops forwarding output
///    and often hangs.
/// 3. mpirun naming a lost daemon ("Remote daemon: ... on node X"): X is lost at once.
/// 4. A node silent for the heartbeat timeout (the startup timeout before its first line)
///    is lost; if no node ever spoke, the launch never started and none is blamed.
/// 6. A rank that reports progress and went past its budget without any (`ProgressWatch`)
///    while every node is heard from (none silent for half the heartbeat timeout; else rule
///    4 decides first): a hang (the runner collects stacks and names the culprit).
/// 7. A rank whose busy fraction stays well above the others' (`StragglerWatch`): a
///    straggler, said once; with `--on-straggler exclude` its node is lost at the next
///    checkpoint (a larger consumed count).
/// 8. With `--grow-after` and a world below MAX (`GrowWatch`): a node back in the pool
///    (`spareReady`) for that long makes the head ask the job for a checkpoint; the next
///    larger consumed count stops the attempt so the next one grows.
/// 5. At mpirun's end: a daemon mpirun named lost; else, when an agent ended abnormally
///    after the job started (ORTE then says it was "unable to reliably start one or more
///    daemons", at any time, also for a daemon that ran for hours), the node whose agent
///    ended first, else the node of the first rank killed by SIGKILL, else a node none of
///    whose ranks said how it ended, else the first failed rank's node: a node crash kills
///    a node's processes in any order, and a rank killed before its wrapper reads as a
///    failure of the command; else the first rank that
///    failed by itself; else an agent's end (rule 1); else the nodes none of whose ranks
///    said how they ended; else mpirun failed.
struct LossClassifier: Sendable {
    struct Settings: Sendable, Equatable, Codable {
        var heartbeatTimeout: Double
        var startupTimeout: Double
        /// How long an aborting mpirun is given before it is stopped.
        var nodeLossWindow: Double
        /// The grace a Ctrl-C gives the ranks.
        var grace: Double
        /// Agent ends seen later than this after mpirun said it was aborting are its own doing.
        var agentCutoff: Double = 0.15
        /// How long an agent's accusation waits for mpirun's clean exit.
        var agentSettle: Double = 0.25
        /// Hang detection (nil: off; transcripts recorded before it have none).
        var progress: ProgressWatch.Rule?
        /// Straggler detection (nil: off).
        var stragglers: StragglerWatch.Rule?
        /// Growing back at a checkpoint (nil: off, or the world is at MAX).
        var grow: GrowWatch.Rule?

        init(heartbeatTimeout: Double, startupTimeout: Double, nodeLossWindow: Double, grace: Double) {
            self.heartbeatTimeout = heartbeatTimeout
            self.startupTimeout = startupTimeout
            self.nodeLossWindow = nodeLossWindow
            self.grace = grace
        }
    }

    let settings: Settings
    let hosts: HostList
    let placements: [RankPlacement]
    private(set) var monitor: HeartbeatMonitor
    /// mpirun's last lines (its abort and loss blocks are short).
    private(set) var tail: [String] = []
    var daemonNamed = false
    /// When mpirun first said it was aborting.
    var abortSaidAt: Double?
    /// ORTE said an agent ended abnormally after the job had started.
    var daemonFailed = false
    /// Nodes whose agent ended, with when that was seen.
    var agentEnds: [String: Double] = [:]
    var pendingAgentSince: Double?
    var interrupts = 0
    var interruptsSeen = 0
    var interruptDeadline: Double?
    /// A stop was ordered: only mpirun's end matters now.
    var awaitingEnd = false
    private(set) var isFinished = false
    private(set) var progress: ProgressWatch
    private(set) var stragglers: StragglerWatch
    private(set) var grow: GrowWatch?
    /// `--on-straggler exclude`: the straggler found, and the consumed count to go past first.
    var excluding: (finding: StragglerFinding, consumed: Int)?
    var lastStragglerCheck = -Double.infinity

    init(hosts: HostList, settings: Settings, start: Double) {
        self.hosts = hosts
        self.settings = settings
        progress = ProgressWatch(rule: settings.progress ?? ProgressWatch.Rule(timeout: .off))
        stragglers = StragglerWatch(rule: settings.stragglers ?? StragglerWatch.Rule(policy: .off))
        grow = settings.grow.map { GrowWatch(rule: $0) }
        placements = RankPlacement.all(hosts)
        monitor = HeartbeatMonitor(hosts: hosts, timeout: settings.heartbeatTimeout, start: start,
                                   startupTimeout: settings.startupTimeout)
    }

    /// Takes one event in; returns what the runner must do now, if anything.
    mutating func handle(_ event: AttemptEvent, at now: Double) -> LossAction? {
        guard !isFinished else { return nil }
        switch event {
        case .tagged(let line):
            monitor.record(line, at: now)
            switch line.kind {
            case .prog: if let mark = ProgressMark.parse(line.payload) { progress.record(mark, rank: line.rank, node: line.node, at: now) }
            case .hb: if let beat = Heartbeat.parse(line.payload) { stragglers.record(rank: line.rank, node: line.node, beat, at: now) }
            case .exit, .fence:
                progress.ended(rank: line.rank)
                stragglers.ended(rank: line.rank)
            default: break
            }
        case .mpirun(let line):
            tail.append(line)
            if tail.count > 200 { tail.removeFirst() }
            switch OpenMPIMessage.classify(line) {
            case .remoteDaemon: daemonNamed = true
            case .aborting:
                if abortSaidAt == nil { abortSaidAt = now }
                if line.contains("unable to reliably start") && !monitor.heard.isEmpty { daemonFailed = true }
            default: break
            }
        case .agentEnded(let node):
            if agentEnds[node] == nil { agentEnds[node] = now }
        case .interrupt:
            interrupts += 1
        case .spareReady(let node):
            grow?.spareReady(node, at: now)
        case .mpirunExited(let status):
            isFinished = true
            return .ended(classifyEnd(status, at: now))
        case .tick:
            break
        }
        return decide(at: now)
    }

    /// The earliest time at which the classifier may decide something with no new event
    /// (the runner wakes up by then; a replay ticks there).
    func nextDeadline() -> Double? {
        guard !isFinished && !awaitingEnd else { return nil }
        var times: [Double] = []
        if let s = pendingAgentSince { times.append(s + settings.agentSettle) }
        if let a = abortSaidAt, !daemonNamed { times.append(a + settings.nodeLossWindow) }
        if let d = interruptDeadline { times.append(d) }
        if let o = monitor.nextOverdueTime() { times.append(o) }
        // A hang waits while a node is silent (rule 6); that node's line or loss comes first.
        if interruptsSeen == 0, let p = progress.nextDeadline(),
           p <= (monitor.oldestLastSeen ?? p) + settings.heartbeatTimeout / 2 { times.append(p) }
        if interruptsSeen == 0, let g = grow?.nextDeadline() { times.append(g) }
        return times.min()
    }

    mutating func decide(at now: Double) -> LossAction? {
        guard !awaitingEnd else { return nil }
        if interruptsSeen == 0 {
            if let action = judgeAgents(at: now) { return action }
            // 2: an aborting mpirun is judged by what it said, after a short window.
            if let said = abortSaidAt, !daemonNamed {
                guard now - said >= settings.nodeLossWindow else { return nil }
                awaitingEnd = true
                return .stopAborted
            }
            // 3: mpirun named a lost daemon (its wrappers lost their stdin with it).
            if daemonNamed {
                let named = nodesNamedLost(inMpirunOutput: tail).intersection(hosts.names)
                if !named.isEmpty {
                    isFinished = true
                    return .nodesLost(lostVerdict(Array(named), .daemonLost, "mpirun lost communication with its daemon", at: now),
                                      fence: .none)
                }
            }
            // 4: silence.
            let overdue = monitor.overdue(at: now)
            if !overdue.isEmpty && monitor.heard.isEmpty {
                // No node has said anything: the launch itself never started (under Slurm, an
                // srun step that pends). That says nothing against any node: blame none.
                let silent = overdue.map(\.node)
                var v = AttemptVerdict(outcome: .failedToStart)
                v.detail = "no node reported within the startup timeout (\(formatDuration(settings.startupTimeout, .argument))): "
                    + "\(silent.joined(separator: ",")) never reported; the launch did not start (no node is blamed)"
                v.message = "\(silent.joined(separator: ",")) never reported within \(formatDuration(settings.startupTimeout, .argument))"
                isFinished = true
                return .neverStarted(v)
            }
            if !overdue.isEmpty {
                var silentFor: [String: Double] = [:]
                for o in overdue { silentFor[o.node] = o.silentFor }
                var v = lostVerdict(overdue.map(\.node), .heartbeatTimeout,
                                    "heartbeat timeout (\(formatDuration(settings.heartbeatTimeout, .argument)))", at: now, silentFor: silentFor)
                v.message = "no heartbeat from \(overdue.map { "\($0.node) for \(formatDuration($0.silentFor, .seconds(digits: 1)))" }.joined(separator: ", "))"
                isFinished = true
                return .nodesLost(v, fence: .always)
            }
            // 6: a rank alive but making no progress (after the node rules: a lost node
            // stalls every rank, and is the better verdict; so while a node has been silent
            // for half the heartbeat timeout, the hang waits for that node to speak or be lost).
            if let hang = progress.overdue(at: now), monitor.oldestHeartbeatAge(at: now) <= settings.heartbeatTimeout / 2 {
                isFinished = true
                return .hung(hang)
            }
            // 7: stragglers, looked at once a second; with `exclude`, the straggler's node is
            // left out once the job has checkpointed past the moment it was found.
            if let (f, at) = excluding, let c = monitor.consumed, c > at {
                isFinished = true
                var v = lostVerdict([f.node], .straggler, "its rank \(f.rank) was a straggler (\(f.rule)); left out at a checkpoint", at: now)
                v.message = "leaving out straggler \(f.node) at a checkpoint (\(c) samples consumed)"
                return .nodesLost(v, fence: .none)
            }
            if now - lastStragglerCheck >= 1 {
                lastStragglerCheck = now
                if let f = stragglers.check(at: now) {
                    if stragglers.rule.policy == .exclude && excluding == nil { excluding = (f, monitor.consumed ?? 0) }
                    return .straggler(f)
                }
            }
            // 8: grow back at a checkpoint.
            if let step = grow?.check(at: now, consumed: monitor.consumed) {
                switch step {
                case .request(let nodes): return .requestCheckpoint(nodes: nodes)
                case .giveUp(let nodes, let reason): return .growGivenUp(nodes: nodes, reason: reason)
                case .grow(let nodes, let consumed):
                    isFinished = true
                    var v = AttemptVerdict(outcome: .grow)
                    v.detail = "\(nodes.joined(separator: ",")) back in the pool; stopped at the checkpoint of \(consumed) samples consumed"
                    v.message = "checkpoint at \(consumed) samples consumed; stopping attempt to grow with \(nodes.joined(separator: ","))"
                    return .grow(v, nodes: nodes)
                }
            }
        }
        if interrupts > interruptsSeen {
            let first = interruptsSeen == 0
            interruptsSeen = interrupts
            pendingAgentSince = nil
            if first {
                interruptDeadline = now + settings.grace
                return .forwardInterrupt
            }
            interruptDeadline = nil
            awaitingEnd = true
            return .stopJob(atOnce: true)
        }
        if let d = interruptDeadline, now >= d {
            interruptDeadline = nil
            awaitingEnd = true
            return .stopJob(atOnce: false)
        }
        return nil
    }

    /// Rule 1: an agent's end while its node still ran.
    mutating func judgeAgents(at now: Double) -> LossAction? {
        let ends = agentEndsBeforeAbort()
        guard !ends.isEmpty, !monitor.heard.isEmpty else { return nil }
        let accused = accusedByAgents(ends)
        guard !accused.isEmpty, failureAllowsAccusing(accused) else {
            pendingAgentSince = nil
            return nil
        }
        guard let since = pendingAgentSince else {
            pendingAgentSince = now
            return nil
        }
        guard now - since >= settings.agentSettle else { return nil }
        pendingAgentSince = nil
        isFinished = true
        var v = lostVerdict(accused, .agentEnded, "its rsh agent (mpirun's child for that host) ended while its ranks ran", at: now)
        v.message = "the agent of \(accused.joined(separator: ",")) ended"
        return .nodesLost(v, fence: .unlessGone)
    }

    /// A rank that failed by itself makes mpirun end every agent, so it speaks against an
    /// agent's accusation; not when an agent ended abnormally and the rank was on an
    /// accused node (a crash that killed the rank before its wrapper).
    func failureAllowsAccusing(_ accused: [String]) -> Bool {
        guard let f = monitor.firstFailure else { return true }
        return daemonFailed && accused.contains(f.node)
    }

    func agentEndsBeforeAbort() -> [String: Double] {
        let cutoff = abortSaidAt.map { $0 + settings.agentCutoff } ?? .infinity
        return agentEnds.filter { $0.value <= cutoff }
    }

    /// The nodes an agent end accuses: ended agents whose node still had a rank running,
    /// preferring those none of whose ranks said anything of their end.
    func accusedByAgents(_ ended: [String: Double]) -> [String] {
        let candidates = ended.keys.filter { monitor.hasUnfinishedRanks($0) }
        let quiet = candidates.filter { monitor.isSilent($0) }
        return (quiet.isEmpty ? candidates : quiet).sorted()
    }

    /// Rule 5: the verdict on mpirun's end.
    func classifyEnd(_ status: ExitStatus?, at decided: Double) -> AttemptVerdict {
        if interruptsSeen > 0 || interrupts > 0 { return AttemptVerdict(outcome: .interrupted) }
        // mpirun exits 0 only when every process did: the last exit lines may still be in
        // flight, but nothing was lost.
        if status == .exited(0) { return AttemptVerdict(outcome: .completed) }
        let named = nodesNamedLost(inMpirunOutput: tail).intersection(hosts.names)
        if !named.isEmpty {
            return lostVerdict(Array(named), .daemonLost, "mpirun reported the node's daemon lost", at: decided)
        }
        let silent = monitor.silentNodes
        if daemonFailed {
            // Some node's agent ended abnormally: a node was lost, whatever its ranks said.
            let ends = agentEndsBeforeAbort()
            let byAgent = ends.isEmpty ? [] : accusedByAgents(ends)
            if !byAgent.isEmpty {
                return lostVerdict(byAgent, .agentEnded, "its rsh agent ended while its ranks ran", at: decided)
            }
            if let first = ends.min(by: { $0.value < $1.value }) {
                return lostVerdict([first.key], .agentEnded, "its rsh agent ended first", at: decided)
            }
            // A crash kills with SIGKILL: a rank killed so, not by a stop from outside, was
            // on the node; a rank that failed with an error may be a survivor that lost its
            // peer.
            if let f = monitor.firstFailure, f.exit.status == .signaled(SIGKILL) {
                return lostVerdict([f.node], .daemonFailed,
                                   "mpirun said a daemon failed, and the node's rank \(f.rank) was the first to end, killed (\(f.exit.payload))",
                                   at: decided)
            }
            if !silent.isEmpty && silent.count < hosts.hosts.count {
                return lostVerdict(Array(silent), .daemonFailed,
                                   "mpirun said a daemon failed, and the node's ranks never reported their end", at: decided)
            }
            if let f = monitor.firstFailure {
                return lostVerdict([f.node], .daemonFailed,
                                   "mpirun said a daemon failed, and the node's rank \(f.rank) was the first to end (\(f.exit.payload))",
                                   at: decided)
            }
        }
        if let f = monitor.firstFailure {
            var v = AttemptVerdict(outcome: .commandFailed)
            v.failedRank = f.rank
            v.failedNode = f.node
            v.failedExit = f.exit
            return v
        }
        let byAgent = monitor.heard.isEmpty ? [] : accusedByAgents(agentEndsBeforeAbort())
        if !byAgent.isEmpty {
            return lostVerdict(byAgent, .agentEnded, "its rsh agent ended while its ranks ran", at: decided)
        }
        if !monitor.heard.isEmpty && !silent.isEmpty && silent.count < hosts.hosts.count {
            return lostVerdict(Array(silent), .silentAtEnd,
                               "mpirun exited (\(status?.description ?? "killed")) and the node's ranks never reported their end", at: decided)
        }
        var v = AttemptVerdict(outcome: .mpirunFailed)
        v.detail = status?.description ?? "killed"
        return v
    }

    func lostVerdict(_ nodes: [String], _ signal: LossSignal, _ cause: String, at decided: Double,
                     silentFor: [String: Double] = [:]) -> AttemptVerdict {
        var v = AttemptVerdict(outcome: .nodesLost)
        v.lost = nodes.sorted().map { n in
            LostNode(node: n, ranks: placements.filter { $0.node == n }.map(\.rank), signal: signal, cause: cause,
                     detectionSeconds: silentFor[n] ?? (decided - (monitor.lastSeen[n] ?? monitor.startedAt)))
        }
        return v
    }
}
