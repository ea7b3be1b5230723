import BatonProtocol
import BatonRuns
import BatonSupport

/// `--nnodes N` or `--nnodes MIN:MAX` (torchrun's spelling): how many nodes an attempt runs
/// on. The hosts beyond MAX are spares.
public struct NodeRange: Sendable, Equatable, Codable, CustomStringConvertible {
    public var min: Int
    public var max: Int

    public init(min: Int, max: Int) {
        self.min = min
        self.max = max
    }

    /// `N` or `MIN:MAX`, 1 <= MIN <= MAX.
    public static func parse(_ text: String) throws(LaunchError) -> NodeRange {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let lo = Int(parts[0]), let hi = Int(parts.last!), lo >= 1, lo <= hi else {
            throw LaunchError(.badInput, "--nnodes: '\(text)' is not N or MIN:MAX with 1 <= MIN <= MAX (e.g. 3, or 2:4)")
        }
        return NodeRange(min: lo, max: hi)
    }

    public var description: String { min == max ? "\(min)" : "\(min):\(max)" }
}

/// How long a node out of the job waits before its next health check (`HostPool` rule 1,
/// and `baton grid` before a dead node returns to the free pool): `--cool-down`, doubled by
/// each failed check in a row since it left, at most 16 times it.
public enum ProbeBackoff {
    public static func wait(coolDown: Double, failedChecks: Int) -> Double { coolDown * Double(1 << min(max(failedChecks, 0), 4)) }
}

/// What the health gate found on one node (`HealthGate`): passed, or failed and why.
enum GateVerdict: Sendable, Equatable {
    case passed
    case failed(String)
}

/// The hosts a launch may run on and what each is now: in the job, a spare, suspect (failed
/// the health gate), or lost (in an attempt). A pure value: the supervisor feeds it the
/// attempts' losses and the gate's verdicts and carries out what it decides (runs the gate,
/// commits the changes, starts the attempt). Without `--nnodes` it holds no spares and
/// decides what the launch always did: the survivors.
///
/// The rules, in order, at every attempt boundary (`select`):
/// 1. A lost or suspect node whose wait has passed since it was lost (or last failed the
///    gate) is gated again; passing, it rejoins as a spare; failing, it stays suspect and
///    waits again. The wait is `--cool-down`, doubled by each failed check in a row, up to
///    16 times it (`probeWait`). The same rule runs while an attempt runs (`dueForProbe`,
///    `probed`: the runner gates such nodes in the background).
/// 2. A node of the proposal that failed the gate becomes suspect.
/// 3. The proposal keeps every node of the last attempt still in the job, in its place; a
///    place whose node was lost or is suspect takes the next spare (the given order), so the
///    world size and every surviving rank's place stay as they were; with no spare the place
///    is dropped (the world shrinks, down to MIN); below MAX, spares are appended (the world
///    grows back).
/// 4. Every node of the proposal must have passed the gate this round (when gating); the
///    ones that have not are gated first (a step of its own, so a spare taken for a failed
///    node is itself checked before anything starts on it).
/// 5. Fewer than MIN nodes: the launch cannot go on.
/// 6. With `--health-check bandwidth`, a proposal of two nodes or more whose every node passed
///    is measured as a whole (one round of `bench matrix` among its nodes: `measure`) unless
///    this very proposal was measured this round; a node the round convicts comes back as a
///    failed verdict, so rule 2 makes it suspect and rule 3 gives its place to a spare (gated,
///    then the new proposal measured again).
struct HostPool: Sendable, Equatable {
    enum State: String, Sendable, Equatable {
        case active, spare, suspect, lost
    }

    struct Member: Sendable, Equatable {
        var host: Host
        var state: State
        /// When it entered its state (seconds since 1970).
        var since: Double
        var reason: String?
        /// Failed gate checks in a row since it left the job (the back-off of rule 1).
        var failedChecks = 0
    }

    /// A change the supervisor records (the store's nodes and events).
    enum Change: Sendable, Equatable {
        case suspect(node: String, reason: String)
        case rejoined(node: String)
        /// `spare` takes the place of `replacing` (nil: appended, the world grows).
        case spareIn(spare: String, replacing: String?)
        /// A place of the last attempt left empty (no spare): the world shrinks.
        case dropped(node: String)
    }

    enum Selection: Sendable, Equatable {
        /// Run the gate on these nodes, then call `select` again with the verdicts added.
        case gate([String])
        /// Measure the bandwidth among these nodes (rule 6), then call `select` again with
        /// the nodes it convicted as failed verdicts, or with `measured` set to them.
        case measure([String])
        /// Start the next attempt on `hosts`.
        case start(HostList, changes: [Change])
        /// Fewer than MIN nodes can run the job; the sentence says why.
        case tooFew(String, changes: [Change])
    }

    /// Every host given, in the given order.
    private(set) var members: [Member]
    /// The places of the last attempt (or the first one's), node names in rank order.
    private(set) var places: [String]
    let range: NodeRange
    let coolDown: Double
    /// Whether nodes are gated before an attempt (`--health-check`); off, every node counts
    /// as passed and a lost node never rejoins (nothing would check it).
    let gating: Bool
    /// Whether a proposal's links are measured before it starts (rule 6).
    let measuring: Bool
    /// The changes of rules 1 and 2 in this round, handed out with its end (`start`, `tooFew`).
    private var roundChanges: [Change] = []

    /// The first MAX hosts are in the job, the rest spares.
    init(hosts: HostList, range: NodeRange, coolDown: Double, gating: Bool, measuring: Bool = false, now: Double) {
        members = hosts.hosts.enumerated().map { i, h in
            Member(host: h, state: i < range.max ? .active : .spare, since: now, reason: nil)
        }
        places = Array(hosts.names.prefix(range.max))
        self.range = range
        self.coolDown = coolDown
        self.gating = gating
        self.measuring = gating && measuring
    }

    /// The pool as an earlier head of the run left it (`--resume`): the last attempt's nodes
    /// (`last`, in rank order) keep their places, so `WORLD_SIZE` and every rank's place stay
    /// as they were; the run store's rows say which nodes were spare, suspect or lost, since
    /// when and why (a lost node's cool-down runs from its loss, not from the resume); a host
    /// the store never saw is a spare.
    mutating func resume(last: [String], rows: [LaunchNodeRow]) {
        let row = Dictionary(rows.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        let inLast = Set(last)
        for i in members.indices {
            let name = members[i].host.name
            let r = row[name]
            switch r?.state {
            case .lost?: members[i].state = .lost
            case .suspect?: members[i].state = .suspect
            case .spare?: members[i].state = .spare
            case .healthy?, nil: members[i].state = inLast.contains(name) ? .active : .spare
            }
            if let r, r.state != .healthy {
                members[i].since = r.since
                members[i].reason = r.cause
            }
        }
        let known = last.filter { member($0) != nil }
        if !known.isEmpty { places = Array(known.prefix(range.max)) }
    }

    /// The job's nodes now, in rank order.
    var active: HostList { HostList(hosts: places.compactMap { p in member(p).flatMap { $0.state == .active ? $0.host : nil } }) }
    func names(_ state: State) -> [String] { members.filter { $0.state == state }.map(\.host.name) }
    func member(_ name: String) -> Member? { members.first { $0.host.name == name } }

    private mutating func set(_ name: String, _ state: State, at now: Double, reason: String?) {
        guard let i = members.firstIndex(where: { $0.host.name == name }) else { return }
        members[i].state = state
        members[i].since = now
        members[i].reason = reason
    }

    /// Nodes an attempt lost (or `--on-hang` left out): out of the job until they rejoin.
    mutating func lose(_ names: [String], reason: String, at now: Double) {
        for n in names where member(n) != nil {
            set(n, .lost, at: now, reason: reason)
            if let i = members.firstIndex(where: { $0.host.name == n }) { members[i].failedChecks = 0 }
        }
    }

    /// The nodes outside the job that may take a place at the next boundary: the spares, and
    /// lost or suspect nodes whose wait has passed (if the gate clears them). The restart
    /// policy counts them with the survivors against MIN.
    func standby(now: Double) -> Int {
        members.filter { $0.state == .spare }.count + dueForProbe(now: now).count
    }

    /// How long a lost or suspect node waits before its next check: `--cool-down`, doubled by
    /// each failed check in a row, at most 16 times (a node that stays down is not checked
    /// every cool-down for ever; one back soon is checked soon).
    func probeWait(_ m: Member) -> Double { ProbeBackoff.wait(coolDown: coolDown, failedChecks: m.failedChecks) }

    /// Rule 1's nodes: lost or suspect, their wait over (none without a gate).
    func dueForProbe(now: Double) -> [String] {
        guard gating else { return [] }
        return members.filter { ($0.state == .lost || $0.state == .suspect) && now >= $0.since + probeWait($0) }.map(\.host.name)
    }

    /// Rule 1's outcome for the gate's verdicts on such nodes: passing, a spare again;
    /// failing, suspect, its wait doubled. Verdicts on other nodes are ignored.
    mutating func probed(_ verdicts: [String: GateVerdict], at now: Double) -> [Change] {
        var changes: [Change] = []
        for m in members where m.state == .lost || m.state == .suspect {
            guard let i = members.firstIndex(where: { $0.host.name == m.host.name }) else { continue }
            switch verdicts[m.host.name] {
            case nil: continue
            case .passed?:
                set(m.host.name, .spare, at: now, reason: "rejoined: passed the health gate after --cool-down")
                members[i].failedChecks = 0
                changes.append(.rejoined(node: m.host.name))
            case .failed(let why)?:
                set(m.host.name, .suspect, at: now, reason: why)
                members[i].failedChecks += 1
                changes.append(.suspect(node: m.host.name, reason: why))
            }
        }
        return changes
    }

    /// The next attempt's nodes, given the gate's verdicts of this round (empty at first) and
    /// the proposal whose bandwidth passed this round (rule 6), if any.
    /// Pure apart from recording in the pool what it decided (states, places).
    mutating func select(now: Double, verdicts: [String: GateVerdict], measured: [String]? = nil) -> Selection {
        var changes: [Change] = []
        defer { roundChanges += changes }
        // 1. Rejoins.
        let due = dueForProbe(now: now)
        var toGate = due.filter { verdicts[$0] == nil }
        changes += probed(verdicts.filter { due.contains($0.key) }, at: now)
        // 2. Failed nodes of the job and spares become suspect.
        for m in members where m.state == .active || m.state == .spare {
            if case .failed(let why)? = verdicts[m.host.name] {
                set(m.host.name, .suspect, at: now, reason: why)
                changes.append(.suspect(node: m.host.name, reason: why))
            }
        }
        // 3. The proposal.
        var spares = names(.spare)[...]
        var proposal: [String] = []
        var placed: [Change] = []
        for p in places {
            if member(p)?.state == .active { proposal.append(p); continue }
            if let s = spares.popFirst() {
                proposal.append(s)
                placed.append(.spareIn(spare: s, replacing: p))
            } else {
                placed.append(.dropped(node: p))
            }
        }
        while proposal.count < range.max, let s = spares.popFirst() {
            proposal.append(s)
            placed.append(.spareIn(spare: s, replacing: nil))
        }
        // 4. Gate what has not passed this round.
        if gating {
            toGate += proposal.filter { verdicts[$0] == nil }
            if !toGate.isEmpty { return .gate(toGate) }
        }
        // 5. Enough?
        guard proposal.count >= range.min else {
            let bad = members.filter { $0.state == .suspect || $0.state == .lost }
                .map { "\($0.host.name) \($0.state.rawValue)" + ($0.reason.map { ": \($0)" } ?? "") }
            let all = roundChanges + changes
            (roundChanges, changes) = ([], [])
            return .tooFew("\(proposal.count) nodes can run the job, at least \(range.min) are needed (--nnodes MIN, else --min-nodes)"
                           + (bad.isEmpty ? "" : " (\(bad.joined(separator: "; ")))"), changes: all)
        }
        // 6. Measure the proposal's links.
        if measuring, proposal.count >= 2, proposal != measured { return .measure(proposal) }
        for p in places where member(p)?.state == .active && !proposal.contains(p) { set(p, .spare, at: now, reason: nil) }
        for n in proposal where member(n)?.state != .active { set(n, .active, at: now, reason: nil) }
        places = proposal
        let all = roundChanges + changes + placed
        (roundChanges, changes) = ([], [])
        return .start(active, changes: all)
    }

    /// The pool by state, as a plan keeps it.
    var summary: LaunchPlan.Pool {
        LaunchPlan.Pool(nnodes: range.description, active: places.filter { member($0)?.state == .active }, spare: names(.spare),
                        suspect: names(.suspect), lost: names(.lost), gate: gating)
    }

    /// The sentence that says what the pool changed for the next attempt, or nil when it runs
    /// on the nodes the restart policy named (no spare taken, none dropped beyond them).
    static func describe(_ changes: [Change], world before: Int, after: Int) -> String? {
        var parts: [String] = []
        for c in changes {
            switch c {
            case .spareIn(let s, let r?): parts.append("spare \(s) for \(r)")
            case .spareIn(let s, nil): parts.append("\(s) added")
            case .rejoined(let n): parts.append("\(n) rejoined as a spare")
            case .suspect(let n, let why): parts.append("\(n) suspect (\(why))")
            case .dropped: break
            }
        }
        guard !parts.isEmpty else { return nil }
        let world = before == after ? "WORLD_SIZE stays \(after)" : "WORLD_SIZE \(before) -> \(after)"
        return parts.joined(separator: ", ") + "; " + world
    }
}
