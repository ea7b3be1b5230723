import BatonProtocol
import BatonSystem
import Foundation

/// The health gate's effects: before an attempt, every node about to be used runs one
/// rank through the engine (mpirun, with the same Open MPI settings and agent the job
/// gets), and that rank is `baton-exec health` (`NodeHealth`: the run and checkpoint
/// directories writable with room, memlock when asked); without `baton-exec` beside `baton`,
/// `true` (the node answers, nothing more). First one mpirun for all the nodes (a rank
/// each, answers told apart by `--tag-output`): what answered is judged; then a one-node
/// mpirun for each node that gave no answer (one unreachable node aborts the common job, and
/// must not take the others' verdicts with it). Each round is bounded by `timeout`. With
/// `--health-check bandwidth`, the nodes chosen for an attempt are then measured together:
/// one round of `baton bench matrix` among them (`measure`, its own `timeout`), judged by the
/// bench against `--health-min-bandwidth` (`BandwidthRound`). What a verdict leads to is
/// `HostPool`'s to decide.
public struct HealthGate: Sendable {
    var planner: LaunchPlanner
    var timeout: Double
    var check: HealthArguments
    /// `--health-check bandwidth`: the floor a node's links are held to; nil: not measured.
    var bandwidth: BandwidthFloor?
    /// mpirun's environment (the head's, with the head's mark added by `run`).
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    /// The argv that checks `hosts`, a rank each, rank i on the i-th (never through a shell:
    /// a host name is one word of it).
    func argv(_ hosts: [BatonProtocol.Host]) -> [String] {
        let rank = planner.execPath.map { [$0] + check.encode() } ?? ["true"]
        return mpirun(hosts, tagged: hosts.count > 1) + rank
    }

    /// mpirun with a rank on each of `hosts` (rank i on the i-th), the job's settings, up to
    /// the rank's command.
    func mpirun(_ hosts: [BatonProtocol.Host], tagged: Bool) -> [String] {
        let list = HostList(hosts: hosts.map { BatonProtocol.Host(name: $0.name, slots: 1) })
        let context = planner.mpiContext(list)
        var argv = [planner.mpirunPath, "--host", list.hosts.map(\.spec).joined(separator: ","), "-np", String(hosts.count)]
        if tagged { argv.append("--tag-output") }
        return argv + MPISettings.arguments(context, part: .job) + MPISettings.arguments(context, part: .hosts)
    }

    /// The bandwidth round's argv: `baton bench matrix` among `hosts`, one sweep of small
    /// messages (64 KiB, a window of 8, 3 timed windows a direction: about 2 MB a pair each
    /// way), the floor as the bench's own judgement.
    func bandwidthArgv(_ hosts: [BatonProtocol.Host], floor: BandwidthFloor) -> [String] {
        mpirun(hosts, tagged: false)
            + [planner.batonPath, "bench", "matrix", "--json", "--rounds", "1", "--size", "64K", "--window", "8", "--iters", "3", "--latency-iters", "1"]
            + floor.benchArguments
    }

    /// How long one bandwidth round among `nodes` nodes may take: `--health-timeout`, and
    /// 50 ms for each ordered pair (the matrix measures them one at a time: 16 nodes made
    /// 240 pairs and 6-10 s on the loaded 2-core test bed, docs/benchmarks.md).
    func bandwidthBound(nodes: Int) -> Double { timeout + 0.05 * Double(nodes * (nodes - 1)) }

    /// One round of `bench matrix` among `hosts` (rule 6 of `HostPool`), within `bandwidthBound`,
    /// and when it convicts a node or finds a slow link a second one to confirm it
    /// (`BandwidthRound.confirmed`): what they found, their wall time and how many rounds ran.
    /// Without a floor, nothing is measured.
    func measure(_ hosts: [BatonProtocol.Host]) -> (round: BandwidthRound, seconds: Double, rounds: Int) {
        let start = monotonicNow()
        guard let floor = bandwidth else { return (.judged(failed: [:], slowLinks: []), 0, 0) }
        let first = measureOnce(hosts, floor: floor)
        guard first.convicts else { return (first, monotonicNow() - start, 1) }
        return (BandwidthRound.confirmed(first, by: measureOnce(hosts, floor: floor)), monotonicNow() - start, 2)
    }

    private func measureOnce(_ hosts: [BatonProtocol.Host], floor: BandwidthFloor) -> BandwidthRound {
        let bound = bandwidthBound(nodes: hosts.count)
        let output = try? ChildProcess.run(bandwidthArgv(hosts, floor: floor), environment: jobEnvironment(hosts), timeout: bound)
        var round = BandwidthRound.judge(output?.stdout ?? "", nodes: hosts.map(\.name), floor: floor)
        if case .noFigures = round {
            let why = output.map { $0.timedOut ? "no matrix within \(formatDuration(bound, .argument)) (--health-timeout and 50ms a pair)" : "bench matrix ended \($0.status)" }
                ?? "mpirun could not be started"
            round = .noFigures(why + (Self.firstWords(output?.stderr ?? "").map { ": \($0)" } ?? ""))
            _ = AttemptSweep(token: token, simulated: true).clear(excluding: [], within: 2)
        }
        return round
    }

    /// mpirun's environment for a gate job on `hosts`: the job's Open MPI settings, the
    /// daemons' marks, the gate's token (`AttemptSweep` finds what a timed-out job left).
    func jobEnvironment(_ hosts: [BatonProtocol.Host]) -> [String: String] {
        var env = environment
        env.merge(MPISettings.environment(planner.mpiContext(HostList(hosts: Array(hosts.prefix(1)))))) { $1 }
        env = DaemonEnvironment.adding(to: env)
        env[LaunchPlanner.attemptTokenVariable] = token
        env[DaemonEnvironment.headKey] = HeadGuard.mark
        return env
    }

    /// The token every process of the gate carries (`AttemptSweep` finds what a timed-out
    /// check left by it): `RUN#gate` before an attempt, `RUN#probe` in the background
    /// (`BackgroundGate`), so neither sweeps the other's.
    var tokenName = "gate"
    var token: String { "\(planner.runDir)#\(tokenName)" }

    /// Checks `hosts` in parallel; returns each node's verdict and the gate's wall time.
    /// `stop` is asked before the second round (a background check being cancelled).
    func run(_ hosts: [BatonProtocol.Host], stop: () -> Bool = { false }) -> (verdicts: [String: GateVerdict], seconds: Double) {
        let start = monotonicNow()
        let verdicts = Locked<[String: GateVerdict]>([:])
        let group = DispatchGroup()
        let env = jobEnvironment(hosts)
        var rest = hosts
        // Inside a Slurm allocation a node Slurm reports down, drained or failing is never
        // used, whatever it would answer.
        if planner.slurm != nil, let out = try? ChildProcess.run(SlurmAllocation.stateQuery(hosts.map(\.name)), environment: env, timeout: timeout),
           out.status.code == 0 {
            let refused = SlurmAllocation.unusable(sinfoOutput: out.stdout)
            verdicts.with { for (n, why) in refused { $0[n] = .failed(why) } }
            rest = hosts.filter { refused[$0.name] == nil }
        }
        if rest.count > 1 {
            let common = rest
            let output = try? ChildProcess.run(argv(common), environment: env, timeout: timeout)
            var answers = Self.answers(output?.stdout ?? "", nodes: common.map(\.name))
            // `true` says nothing: mpirun's success is every node's answer.
            if planner.execPath == nil, let output, !output.timedOut, output.status.code == 0 {
                answers = Dictionary(uniqueKeysWithValues: common.map { ($0.name, GateVerdict.passed) })
            }
            verdicts.with { $0.merge(answers) { $1 } }
            rest = common.filter { answers[$0.name] == nil }
            if output?.timedOut ?? false { _ = AttemptSweep(token: token, simulated: true).clear(excluding: [], within: 2) }
        }
        if stop() { rest = [] }
        for host in rest {
            group.enter()
            let argv = argv([host])
            let timeout = timeout
            startThread("baton-gate") { [env] in
                let verdict = Self.verdict(try? ChildProcess.run(argv, environment: env, timeout: timeout), timeout: timeout)
                verdicts.with { $0[host.name] = verdict }
                group.leave()
            }
        }
        group.wait()
        // A check that timed out may leave its daemon behind on a node this machine sees.
        if verdicts.get.values.contains(where: { $0 != .passed }) {
            _ = AttemptSweep(token: token, simulated: true).clear(excluding: [], within: 2)
        }
        return (verdicts.get, monotonicNow() - start)
    }

    /// The verdicts of the nodes that answered a common check (rank i is `nodes[i]`).
    static func answers(_ stdout: String, nodes: [String]) -> [String: GateVerdict] {
        var found: [String: GateVerdict] = [:]
        for line in stdout.split(separator: "\n") {
            guard let (rank, text) = tagOutputLine(line), nodes.indices.contains(rank),
                  let answer = HealthArguments.problem(inOutput: String(text)) else { continue }
            found[nodes[rank]] = answer.map { .failed($0) } ?? .passed
        }
        return found
    }

    /// mpirun's first line of words (not its rule of dashes): what it said went wrong.
    static func firstWords(_ text: String) -> String? {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty && !$0.hasPrefix("---") }
    }

    /// The verdict on one node's check.
    static func verdict(_ output: ChildProcess.Output?, timeout: Double) -> GateVerdict {
        guard let output else { return .failed("mpirun could not be started") }
        if output.timedOut { return .failed("no answer within \(formatDuration(timeout, .argument)) (--health-timeout)") }
        switch HealthArguments.problem(inOutput: output.stdout) {
        case .some(nil): return .passed
        case .some(let why?): return .failed(why)
        case nil:
            if output.status.code == 0 { return .passed }  // `true`: the node answered
            return .failed("the node did not answer through mpirun (\(output.status))" + (firstWords(output.stderr + output.stdout).map { ": \($0)" } ?? ""))
        }
    }
}

extension HealthGate {
    /// The gate `baton grid` runs on a dead node before it returns to the free pool: the
    /// same one-node check through the engine as a launch's (`planner` says how mpirun
    /// reaches the node), the run directory writable with `minFree` free.
    public init(planner: LaunchPlanner, timeout: Double = 10, directories: [String], minFree: UInt64 = 256 << 20) {
        self.init(planner: planner, timeout: timeout, check: HealthArguments(directories: directories, minFree: minFree, minMemlock: nil))
    }

    /// Checks one node: nil when it passed, else why; and the check's wall time.
    public func check(_ host: BatonProtocol.Host) -> (problem: String?, seconds: Double) {
        let (verdicts, seconds) = run([host])
        if case .failed(let why)? = verdicts[host.name] { return (why, seconds) }
        return (verdicts[host.name] == nil ? "no verdict" : nil, seconds)
    }
}
