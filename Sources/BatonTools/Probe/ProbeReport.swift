/// Everything `baton probe` found: RDMA devices with ports and GIDs, device nodes,
/// limits, where the facts came from, and what could not be parsed.
public struct ProbeReport: Sendable, Equatable {
    public var devices: [RDMADevice]
    /// Logical paths of the nodes under /dev/infiniband, in natural order.
    var deviceNodes: [String]
    public var limits: ResourceLimits
    public var verbs: VerbsStatus
    /// Files that exist but could not be read or parsed, or required files that are
    /// missing. The probe reports them and carries on.
    public var problems: [ProbeProblem]

    init(devices: [RDMADevice], deviceNodes: [String], limits: ResourceLimits, verbs: VerbsStatus, problems: [ProbeProblem]) {
        self.devices = devices
        self.deviceNodes = deviceNodes
        self.limits = limits
        self.verbs = verbs
        self.problems = problems
    }

    /// "sysfs" or "sysfs+verbs": which sources the device facts came from.
    public var source: String { verbs.isUsed ? "sysfs+verbs" : "sysfs" }

    /// Ports in the ACTIVE state, in device order.
    var activePorts: [(device: RDMADevice, port: RDMAPort)] {
        devices.flatMap { d in d.ports.filter(\.isActive).map { (d, $0) } }
    }
}

/// One RDMA device (HCA or RoCE NIC function).
public struct RDMADevice: Sendable, Equatable {
    public var name: String
    public var nodeType: String?
    public var nodeGUID: String?
    public var systemImageGUID: String?
    public var firmwareVersion: String?
    var hcaType: String?
    var boardID: String?
    /// "uverbs0": the verbs node /dev/infiniband/uverbs0 that serves this device.
    var uverbs: String?
    var numaNode: Int?
    /// PCI address and kernel driver from `device/uevent` (enroot numbers devices by them).
    var pciSlot: String?
    var driver: String?
    /// Network devices of the device's PCI function (`device/net/*`), with the port each
    /// belongs to when `dev_port` says so.
    var netdevs: [NetDevice]
    public var ports: [RDMAPort]
    /// Whether libibverbs listed this device (nil when verbs were not asked).
    var seenByVerbs: Bool?

    init(name: String) {
        self.name = name
        netdevs = []
        ports = []
    }
}

/// A network interface beside an RDMA device.
struct NetDevice: Sendable, Equatable {
    public var name: String
    /// The RDMA port number (dev_port + 1), when known.
    public var port: Int?
}

/// One port of an RDMA device.
public struct RDMAPort: Sendable, Equatable {
    public var number: Int
    /// Name from `state` ("ACTIVE", "DOWN", "INIT", ...), nil when unreadable.
    public var state: String?
    var stateCode: Int?
    /// Name from `phys_state` ("LinkUp", "Polling", "Disabled", ...).
    var physState: String?
    public var linkLayer: String?
    /// `rate` as the kernel prints it, e.g. "200 Gb/sec (4X HDR)".
    public var rate: String?
    public var rateGbps: Double?
    public var lid: Int?
    var smLID: Int?
    /// Non-zero GID entries.
    var gids: [GIDRecord]

    init(number: Int) {
        self.number = number
        gids = []
    }

    var isActive: Bool { stateCode == 4 }
    var isEthernet: Bool { linkLayer == "Ethernet" }
}

/// One non-zero GID table entry.
struct GIDRecord: Sendable, Equatable {
    public var index: Int
    /// Sysfs form: 8 groups of 4 hex digits.
    public var gid: String
    /// "IB/RoCE v1" or "RoCE v2"; nil when unreadable.
    public var type: String?
    public var netdev: String?
    /// Dotted IPv4 when the GID is IPv4-mapped.
    public var ipv4: String?
}

/// A file the probe could not use.
public struct ProbeProblem: Sendable, Equatable, CustomStringConvertible {
    /// Logical path, e.g. /sys/class/infiniband/mlx5_0/ports/1/gids/3.
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// The limits that decide whether RDMA buffers can be pinned and NCCL's shared memory fits.
public struct ResourceLimits: Sendable, Equatable {
    /// RLIMIT_MEMLOCK soft limit in bytes; nil when unlimited.
    var memlockBytes: UInt64?
    /// True when the limit could not be read at all (then `memlockBytes` is meaningless).
    var memlockUnknown: Bool
    /// Size of /dev/shm in bytes; nil when unknown (no /dev/shm).
    var shmBytes: UInt64?
    /// Whether this process holds CAP_IPC_LOCK (pinning then ignores RLIMIT_MEMLOCK); nil
    /// when unknown.
    var hasIPCLock: Bool?

    init(memlockBytes: UInt64?, memlockUnknown: Bool = false, shmBytes: UInt64?, hasIPCLock: Bool? = nil) {
        self.memlockBytes = memlockBytes
        self.memlockUnknown = memlockUnknown
        self.shmBytes = shmBytes
        self.hasIPCLock = hasIPCLock
    }
}

/// What the verbs library said.
public enum VerbsStatus: Sendable, Equatable {
    /// Not asked, with the reason (e.g. the sysfs root is a fixture, not this machine).
    case skipped(String)
    /// libibverbs answered with no devices; the text is its answer (e.g. the ENOSYS error).
    case noDevices(String)
    /// libibverbs listed these devices.
    case devices([String])
    /// A verbs call failed for another reason.
    case failed(String)

    var isUsed: Bool {
        if case .devices = self { return true }
        return false
    }

    /// One line for people.
    public var summary: String {
        switch self {
        case .skipped(let why): return "not used (\(why))"
        case .noDevices(let what): return "no devices (\(what))"
        case .devices(let names): return names.isEmpty ? "no devices" : "lists " + names.joined(separator: ", ")
        case .failed(let what): return "failed: \(what)"
        }
    }

    var statusWord: String {
        switch self {
        case .skipped: return "skipped"
        case .noDevices: return "no devices"
        case .devices: return "ok"
        case .failed: return "failed"
        }
    }
}
