import BatonProtocol
import BatonSystem
import Foundation

/// The health gate's effects: before an attempt, every node about to be used runs one
/// rank through the engine (a one-node `mpirun -np 1`, with the same Open MPI settings and
/// agent the job gets), and that rank is `baton-exec health` (`NodeHealth`: the run and
/// checkpoint directories writable with room, memlock when asked); without `baton-exec`
/// beside `baton`, `true` (the node answers, nothing more). The nodes are checked at once,
/// each bounded by `timeout`. What a verdict leads to is `HostPool`'s to decide.
struct HealthGate: Sendable {
    var planner: LaunchPlanner
    var timeout: Double
    var check: HealthArguments
    /// mpirun's environment (the head's, with the head's mark added by `run`).
    var environment: [String: String] = ProcessInfo.processInfo.environment

    /// The argv that checks `host` (never through a shell: the host name is one word of it).
    func argv(_ host: BatonProtocol.Host) -> [String] {
        let one = HostList(hosts: [BatonProtocol.Host(name: host.name, slots: 1)])
        let context = planner.mpiContext(one)
        var argv = [planner.mpirunPath, "--host", "\(host.name):1", "-np", "1"]
        argv += MPISettings.arguments(context, part: .job) + MPISettings.arguments(context, part: .hosts)
        if let exec = planner.execPath { argv += [exec] + check.encode() } else { argv += ["true"] }
        return argv
    }

    /// The token every process of the gate carries (`AttemptSweep` finds what a timed-out
    /// check left by it).
    var token: String { "\(planner.runDir)#gate" }

    /// Checks `hosts` in parallel; returns each node's verdict and the gate's wall time.
    func run(_ hosts: [BatonProtocol.Host]) -> (verdicts: [String: GateVerdict], seconds: Double) {
        let start = monotonicNow()
        let verdicts = Locked<[String: GateVerdict]>([:])
        let group = DispatchGroup()
        var env = environment
        let one = HostList(hosts: Array(hosts.prefix(1)))
        env.merge(MPISettings.environment(planner.mpiContext(one))) { $1 }
        env = DaemonEnvironment.adding(to: env)
        env[LaunchPlanner.attemptTokenVariable] = token
        env[DaemonEnvironment.headKey] = HeadGuard.mark
        for host in hosts {
            group.enter()
            let argv = argv(host)
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

    /// The verdict on one node's check.
    static func verdict(_ output: ChildProcess.Output?, timeout: Double) -> GateVerdict {
        guard let output else { return .failed("mpirun could not be started") }
        if output.timedOut { return .failed("no answer within \(formatDuration(timeout, .argument)) (--health-timeout)") }
        switch HealthArguments.problem(inOutput: output.stdout) {
        case .some(nil): return .passed
        case .some(let why?): return .failed(why)
        case nil:
            if output.status.code == 0 { return .passed }  // `true`: the node answered
            let said = (output.stderr + output.stdout).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .first { !$0.isEmpty && !$0.hasPrefix("---") }
            return .failed("the node did not answer through mpirun (\(output.status))" + (said.map { ": \($0)" } ?? ""))
        }
    }
}
