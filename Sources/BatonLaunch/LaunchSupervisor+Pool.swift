import BatonProtocol
import BatonRuns
import Foundation

/// The pool's effects at an attempt boundary: `HostPool` decides, the supervisor runs the
/// health gate it asks for, commits what changed (the nodes, one event a change) and says
/// it on the console.
extension LaunchSupervisor {
    struct NoNodes: Error { var text: String }

    func selectHosts(_ pool: inout HostPool, attempt: Int, lastWorld: Int?) -> Result<HostList, NoNodes> {
        var verdicts: [String: GateVerdict] = [:]
        var measured: [String]?
        var changes: [HostPool.Change] = []
        // Each gate step checks nodes with no verdict yet, and each bandwidth round passes or
        // convicts a node, so the members bound the rounds.
        for _ in 0...(2 * pool.members.count + 2) {
            let now = Date().timeIntervalSince1970
            switch pool.select(now: now, verdicts: verdicts, measured: measured) {
            case .measure(let names):
                guard let gate = options.gate else { measured = names; continue }
                let (round, seconds, rounds) = gate.measure(names.compactMap { pool.member($0)?.host })
                var fields: [String: Any] = ["attempt": attempt, "nodes": names, "seconds": seconds, "rounds": rounds,
                                             "bandwidth": gate.bandwidth?.description ?? ""]
                switch round {
                case .noFigures(let why):
                    // No figure convicts a node: the attempt starts, and says the round failed.
                    measured = names
                    fields["failed"] = [String: String]()
                    fields["error"] = why
                    console.message("baton launch: health gate: no bandwidth figures among \(names.joined(separator: ",")) (\(why)); starting without them")
                case .judged(let failed, let slowLinks):
                    if failed.isEmpty { measured = names }
                    verdicts.merge(failed.mapValues { .failed($0) }) { $1 }
                    fields["failed"] = failed
                    if !slowLinks.isEmpty { fields["slowLinks"] = slowLinks.map(\.description) }
                    for n in names.filter({ failed[$0] != nil }) {
                        console.message("baton launch: health gate: \(n) failed: \(failed[n]!)")
                    }
                    if !slowLinks.isEmpty {
                        console.message("baton launch: health gate: slow links whose nodes are fast with their other partners (no node replaced): \(slowLinks.map(\.description).joined(separator: "; "))")
                    }
                }
                event(.gate, fields)
            case .gate(let names):
                // The pool asks only when gating; without a gate every node counts as passed.
                guard let gate = options.gate else {
                    for n in names { verdicts[n] = .passed }
                    continue
                }
                let (found, seconds) = gate.run(names.compactMap { pool.member($0)?.host })
                verdicts.merge(found) { $1 }
                var failed: [String: String] = [:]
                for (n, v) in found { if case .failed(let why) = v { failed[n] = why } }
                event(.gate, ["attempt": attempt, "nodes": names, "seconds": seconds, "failed": failed])
                for n in names.filter({ failed[$0] != nil }) {
                    console.message("baton launch: health gate: \(n) failed: \(failed[n]!)")
                }
            case .start(let hosts, let c):
                changes += c
                record(pool, changes, attempt: attempt, lastWorld: lastWorld, world: hosts.totalSlots)
                return .success(hosts)
            case .tooFew(let why, let c):
                changes += c
                record(pool, changes, attempt: attempt, lastWorld: lastWorld, world: nil)
                return .failure(NoNodes(text: why))
            }
        }
        return .failure(NoNodes(text: "the health gate did not settle on the nodes of attempt \(attempt)"))
    }

    /// A background check's verdicts (`BackgroundGate`, while attempt `attempt` runs): the
    /// `gate` event, then what the pool made of them, as at a boundary.
    func recordProbe(_ pool: HostPool, _ r: BackgroundGate.Result, changes: [HostPool.Change], attempt: Int) {
        var failed: [String: String] = [:]
        for (n, v) in r.verdicts { if case .failed(let why) = v { failed[n] = why } }
        event(.gate, ["attempt": attempt, "nodes": r.nodes, "seconds": r.seconds, "failed": failed, "background": true])
        guard !changes.isEmpty else { return }
        record(pool, changes, attempt: attempt, lastWorld: nil, world: nil)
        for case .rejoined(let n) in changes {
            console.message("baton launch: \(n) passed the health gate after --cool-down: back in the pool as a spare")
        }
    }

    /// Commits the pool's changes and its state (in one transaction) and tells the console.
    /// A launch without `--nnodes` or a gate records nothing here.
    private func record(_ pool: HostPool, _ changes: [HostPool.Change], attempt: Int, lastWorld: Int?, world: Int?) {
        // A launch without spares or a gate decides as it always did, and records as it did.
        guard options.nnodes != nil || options.gate != nil else { return }
        let outside = pool.members.filter { $0.state != .active }
        var events: [Event] = []
        var seen = Set<String>()
        for c in changes {
            switch c {
            case .suspect(let n, let why) where seen.insert("s" + n).inserted:
                events.append((.nodeSuspect, ["attempt": attempt, "node": n, "reason": why]))
            case .rejoined(let n):
                events.append((.nodeRejoined, ["attempt": attempt, "node": n]))
            case .spareIn(let s, let r):
                var f: [String: Any] = ["attempt": attempt, "node": s]
                if let r { f["replacing"] = r }
                events.append((.spareIn, f))
            default: break
            }
        }
        events.append((.pool, ["attempt": attempt, "active": pool.places, "spare": pool.names(.spare),
                               "suspect": pool.names(.suspect), "lost": pool.names(.lost)]))
        // The nodes outside the job (a lost one keeps the row of its loss: how it was lost).
        let ops: [LaunchStoreOp] = outside.enumerated().compactMap { i, m in
            let state: LaunchNodeState
            switch m.state {
            case .spare: state = .spare
            case .suspect: state = .suspect
            case .active, .lost: return nil
            }
            return .node(name: m.host.name, position: pool.places.count + i, state: state, since: m.since, attempt: attempt,
                         signal: nil, cause: m.reason)
        }
        commitEvents(events, ops: ops)
        // No world when too few nodes are left: the gate's lines and the end say why.
        if let world, let text = HostPool.describe(changes, world: lastWorld ?? world, after: world) {
            console.message("baton launch: \(text)")
        }
    }
}
