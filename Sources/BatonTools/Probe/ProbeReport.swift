/// Everything `baton probe` found: RDMA devices with ports and GIDs, device nodes,
/// limits, where the facts came from, and what could not be parsed.
public struct ProbeReport: Sendable, Equatable {
    var devices: [RDMADevice]
    /// Logical paths of the nodes under /dev/infiniband, in natural order.
    var deviceNodes: [String]
    var limits: ResourceLimits
    var verbs: VerbsStatus
    /// Files that exist but could not be read or parsed, or required files that are
    /// missing. The probe reports them and carries on.
    var problems: [ProbeProblem]

    init(devices: [RDMADevice], deviceNodes: [String], limits: ResourceLimits, verbs: VerbsStatus, problems: [ProbeProblem]) {
        self.devices = devices
        self.deviceNodes = deviceNodes
        self.limits = limits
        self.verbs = verbs
        self.problems = problems
    }

    /// "sysfs" or "sysfs+verbs": which sources the device facts came from.
    var source: String { verbs.isUsed ? "sysfs+verbs" : "sysfs" }

    /// Ports in the ACTIVE state, in device order.
    var activePorts: [(device: RDMADevice, port: RDMAPort)] {
        devices.flatMap { d in d.ports.filter(\.isActive).map { (d, $0) } }
    }
}

/// One RDMA device (HCA or RoCE NIC function).
struct RDMADevice: Sendable, Equatable {
    var name: String
    var nodeType: String?
    var nodeGUID: String?
    var systemImageGUID: String?
    var firmwareVersion: String?
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
    var ports: [RDMAPort]
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
    var name: String
    /// The RDMA port number (dev_port + 1), when known.
    var port: Int?
}

/// One port of an RDMA device.
struct RDMAPort: Sendable, Equatable {
    var number: Int
    /// Name from `state` ("ACTIVE", "DOWN", "INIT", ...), nil when unreadable.
    var state: String?
    var stateCode: Int?
    /// Name from `phys_state` ("LinkUp", "Polling", "Disabled", ...).
    var physState: String?
    var linkLayer: String?
    /// `rate` as the kernel prints it, e.g. "200 Gb/sec (4X HDR)".
    var rate: String?
    var rateGbps: Double?
    var lid: Int?
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
    var index: Int
    /// Sysfs form: 8 groups of 4 hex digits.
    var gid: String
    /// "IB/RoCE v1" or "RoCE v2"; nil when unreadable.
    var type: String?
    var netdev: String?
    /// Dotted IPv4 when the GID is IPv4-mapped.
    var ipv4: String?
}

/// A file the probe could not use.
struct ProbeProblem: Sendable, Equatable, CustomStringConvertible {
    /// Logical path, e.g. /sys/class/infiniband/mlx5_0/ports/1/gids/3.
    var path: String
    var problem: String
    var description: String { "\(path): \(problem)" }
}

/// The limits that decide whether RDMA buffers can be pinned and NCCL's shared memory fits.
struct ResourceLimits: Sendable, Equatable {
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
enum VerbsStatus: Sendable, Equatable {
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
    var summary: String {
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
