import BatonProtocol
import BatonSystem

/// The health gate while an attempt runs: the lost and suspect nodes whose wait is over
/// (`HostPool.dueForProbe`) are checked on a thread of their own, one check at a time, so a
/// node that heals is back in the pool before the next boundary (and `--grow-after` can grow
/// the world with it). The runner starts a check and collects its verdicts in its loop; the
/// pool decides what they mean. Its processes carry their own token (`RUN#probe`): the gate
/// before an attempt and this one never sweep each other's.
final class BackgroundGate: @unchecked Sendable {
    struct Result: Sendable {
        var nodes: [String]
        var verdicts: [String: GateVerdict]
        var seconds: Double
    }

    private struct State {
        var running = false
        var cancelled = false
        var result: Result?
    }

    let gate: HealthGate
    private let state = Locked(State())

    init(gate: HealthGate) {
        var g = gate
        g.tokenName = "probe"
        self.gate = g
    }

    var isRunning: Bool { state.with { $0.running } }

    /// Starts a check of `hosts` unless one is under way or its result is not taken yet.
    func start(_ hosts: [BatonProtocol.Host]) {
        let go = state.with { s -> Bool in
            guard !s.running, s.result == nil, !hosts.isEmpty else { return false }
            s.running = true
            s.cancelled = false
            return true
        }
        guard go else { return }
        let gate = self.gate
        let state = self.state
        startThread("baton-probe") {
            let (verdicts, seconds) = gate.run(hosts, stop: { state.with { $0.cancelled } })
            state.with { s in
                if !s.cancelled { s.result = Result(nodes: hosts.map(\.name), verdicts: verdicts, seconds: seconds) }
                s.running = false
            }
        }
    }

    /// The verdicts of a finished check, once.
    func take() -> Result? {
        state.with { s in defer { s.result = nil }; return s.result }
    }

    /// Ends a check under way, its verdicts dropped: what it started here is killed (by its
    /// token), and its thread waited for, at most `within` seconds. The boundary's own gate
    /// checks the nodes that are due.
    func cancel(within: Double = 5) {
        let running = state.with { s -> Bool in
            s.result = nil
            guard s.running else { return false }
            s.cancelled = true
            return true
        }
        guard running else { return }
        let sweep = AttemptSweep(token: gate.token, simulated: true)
        _ = pollUntil(atMost: within, every: 0.05) {
            guard state.with({ $0.running }) else { return true }
            _ = sweep.clear(excluding: [], within: 0.5)
            return false
        }
    }
}
