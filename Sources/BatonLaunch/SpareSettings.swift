import BatonProtocol
import BatonRuns
import BatonSystem

/// Whether the health gate runs before every attempt (`--health-check`).
public enum HealthCheckMode: String, Codable, Sendable, CaseIterable {
    /// With `--nnodes` (spares to take a failing node's place), off without: a launch on
    /// exactly its hosts pays nothing for a gate whose only answer would be to give up.
    case auto
    case on
    case off
    /// On, and the nodes chosen for an attempt measured together (one round of `bench
    /// matrix`) against `--health-min-bandwidth`.
    case bandwidth
}

/// The spare-node and health-gate settings of `launch` as given (`LaunchSpec.pool`); the
/// head checks them when it starts (`gate(planner:)`, `range()`).
public struct PoolSettings: Codable, Sendable, Equatable {
    /// `--nnodes N` or `MIN:MAX`; nil: every host given.
    public var nnodes: String?
    public var coolDown = "60s"
    public var healthCheck = HealthCheckMode.auto
    public var healthTimeout = "10s"
    public var healthMinFree = "256M"
    public var healthMinMemlock: String?
    /// `--health-min-bandwidth`: `N%` of the median link, or a rate (`BandwidthFloor`).
    public var healthMinBandwidth = "50%"
    /// `--grow-after`: a world below MAX grows back by a planned restart at a checkpoint once
    /// a node has been back in the pool this long; nil: at the next restart only.
    public var growAfter: String?
    /// `--grow-wait`: how long the head waits for the checkpoint it asked for.
    public var growWait = "5m"

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PoolSettings()
        nnodes = try c.decodeIfPresent(String.self, forKey: .nnodes)
        coolDown = try c.decodeIfPresent(String.self, forKey: .coolDown) ?? d.coolDown
        healthCheck = try c.decodeIfPresent(HealthCheckMode.self, forKey: .healthCheck) ?? d.healthCheck
        healthTimeout = try c.decodeIfPresent(String.self, forKey: .healthTimeout) ?? d.healthTimeout
        healthMinFree = try c.decodeIfPresent(String.self, forKey: .healthMinFree) ?? d.healthMinFree
        healthMinMemlock = try c.decodeIfPresent(String.self, forKey: .healthMinMemlock)
        healthMinBandwidth = try c.decodeIfPresent(String.self, forKey: .healthMinBandwidth) ?? d.healthMinBandwidth
        growAfter = try c.decodeIfPresent(String.self, forKey: .growAfter)
        growWait = try c.decodeIfPresent(String.self, forKey: .growWait) ?? d.growWait
    }

    /// The node range for `hosts` hosts; nil without `--nnodes`.
    func range(hosts: Int) throws(LaunchError) -> NodeRange? {
        guard let nnodes else { return nil }
        let r = try NodeRange.parse(nnodes)
        guard hosts >= r.min else {
            throw LaunchError(.badInput, "--nnodes \(nnodes) needs at least \(r.min) hosts, \(hosts) given")
        }
        return r
    }

    /// The grow rule for `range` with the gate on or off; nil without `--grow-after`.
    func grow(range: NodeRange?, gating: Bool) throws(LaunchError) -> GrowWatch.Rule? {
        guard let growAfter else { return nil }
        guard let after = parseDuration(growAfter), after >= 0 else {
            throw LaunchError(.badInput, "--grow-after: '\(growAfter)' is not a duration (e.g. 10m)")
        }
        guard let wait = parseDuration(growWait), wait > 0 else {
            throw LaunchError(.badInput, "--grow-wait: '\(growWait)' is not a positive duration (e.g. 5m)")
        }
        guard let range, range.min < range.max else {
            throw LaunchError(.badInput, "--grow-after needs --nnodes MIN:MAX with MIN below MAX: only a world that shrank can grow back")
        }
        guard gating else {
            throw LaunchError(.badInput, "--grow-after needs the health gate (--health-check off leaves no way for a node to come back)")
        }
        return GrowWatch.Rule(after: after, wait: wait)
    }

    func coolDownSeconds() throws(LaunchError) -> Double {
        guard let v = parseDuration(coolDown), v >= 0 else { throw LaunchError(.badInput, "--cool-down: '\(coolDown)' is not a duration (e.g. 60s)") }
        return v
    }

    /// The gate the head runs, or nil when it is off.
    func gate(planner: LaunchPlanner, checkpointDir: String) throws(LaunchError) -> HealthGate? {
        let on = healthCheck == .on || healthCheck == .bandwidth || (healthCheck == .auto && nnodes != nil)
        guard let timeout = parseDuration(healthTimeout), timeout > 0 else {
            throw LaunchError(.badInput, "--health-timeout: '\(healthTimeout)' is not a positive duration (e.g. 10s)")
        }
        guard let free = Self.bytes(healthMinFree) else { throw LaunchError(.badInput, "--health-min-free: '\(healthMinFree)' is not a size (e.g. 256M, 10G)") }
        let memlock = try healthMinMemlock.map { (m) throws(LaunchError) -> UInt64 in
            guard let v = Self.bytes(m) else { throw LaunchError(.badInput, "--health-min-memlock: '\(m)' is not a size (e.g. 64M)") }
            return v
        }
        guard let floor = BandwidthFloor.parse(healthMinBandwidth) else {
            throw LaunchError(.badInput, "--health-min-bandwidth: '\(healthMinBandwidth)' is neither a percentage of the median link (e.g. 50%) nor a rate (e.g. 2GB/s, 10Gbit/s; GB/s is bytes, Gb/s bits)")
        }
        guard on else { return nil }
        var gate = HealthGate(planner: planner, timeout: timeout,
                              check: HealthArguments(directories: [planner.runDir, checkpointDir], minFree: free, minMemlock: memlock))
        if healthCheck == .bandwidth { gate.bandwidth = floor }
        return gate
    }

    /// `512`, `64K`, `256M`, `10G`, `1T` (powers of 1024; a trailing `B` or `iB` allowed).
    static func bytes(_ text: String) -> UInt64? {
        var t = text.uppercased()
        for suffix in ["IB", "B"] where t.hasSuffix(suffix) && t.count > suffix.count { t.removeLast(suffix.count); break }
        let shifts: [Character: UInt64] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift: UInt64 = 0
        if let last = t.last, let s = shifts[last] { shift = s; t.removeLast() }
        guard let n = UInt64(t), n <= (UInt64.max >> shift) else { return nil }
        return n << shift
    }
}
