/// The NCCL variables derived from a probe: which HCA ports to use, which GID for RoCE,
/// which interface for bootstrap sockets.
public struct NCCLEnvironment: Sendable, Equatable {
    /// In output order.
    var variables: [(name: String, value: String)]
    /// Why something was left out or not set, for people (printed to stderr).
    public var notes: [String]

    public static func == (a: NCCLEnvironment, b: NCCLEnvironment) -> Bool {
        a.variables.elementsEqual(b.variables, by: { $0 == $1 }) && a.notes == b.notes
    }

    subscript(name: String) -> String? { variables.first { $0.name == name }?.value }

    /// Derives the variables (NCCL docs, REFERENCE.md "NCCL environment"):
    /// - `NCCL_IB_HCA`: ACTIVE ports only, as an exact-match list (leading `=`), so
    ///   `mlx5_1` never also selects `mlx5_10`; NCCL pairs HCAs by list position, so a
    ///   port that is down would cause QP timeouts. When both InfiniBand and Ethernet
    ///   ports are active, only the InfiniBand ones are listed.
    /// - `NCCL_IB_GID_INDEX`: for RoCE, the index of the IPv4-mapped RoCE v2 GID, when it
    ///   is the same on every listed port; otherwise NCCL is told the version and family
    ///   to pick by (`NCCL_IB_ROCE_VERSION_NUM=2`, `NCCL_IB_ADDR_FAMILY=AF_INET`).
    /// - `NCCL_SOCKET_IFNAME`: the network devices beside the listed ports, exact match.
    init(report: ProbeReport) {
        variables = []
        notes = []
        let active = report.activePorts
        if active.isEmpty {
            notes.append(report.devices.isEmpty
                ? "no RDMA devices: NCCL_IB_HCA not set; NCCL will fall back to sockets (\"NET/IB : No device found.\")"
                : "no ACTIVE RDMA port: NCCL_IB_HCA not set; NCCL will fall back to sockets")
            return
        }
        let ib = active.filter { $0.port.linkLayer == "InfiniBand" }
        var eth = active.filter { $0.port.linkLayer == "Ethernet" }
        let other = active.filter { $0.port.linkLayer != "InfiniBand" && $0.port.linkLayer != "Ethernet" }
        if !other.isEmpty {
            notes.append("left out \(Self.names(other)): link layer unknown")
        }
        var chosen = ib
        var gidIndex: [String: GIDRecord] = [:]
        if !ib.isEmpty {
            if !eth.isEmpty {
                notes.append("left out Ethernet (RoCE) port\(eth.count == 1 ? "" : "s") \(Self.names(eth)): NCCL pairs HCAs by list position, so InfiniBand and RoCE ports are not mixed")
            }
        } else {
            var usable: [(device: RDMADevice, port: RDMAPort)] = []
            for entry in eth {
                if let gid = Self.roceV2IPv4(entry.port) {
                    usable.append(entry)
                    gidIndex["\(entry.device.name):\(entry.port.number)"] = gid
                } else {
                    notes.append("left out \(entry.device.name):\(entry.port.number): no IPv4 RoCE v2 GID (is an IPv4 address configured on its netdev?)")
                }
            }
            eth = usable
            chosen = eth
        }
        guard !chosen.isEmpty else {
            notes.append("no usable ACTIVE port: NCCL_IB_HCA not set")
            return
        }
        variables.append(("NCCL_IB_HCA", "=" + chosen.map { "\($0.device.name):\($0.port.number)" }.joined(separator: ",")))
        if ib.isEmpty {
            let indices = Set(gidIndex.values.map(\.index))
            if indices.count == 1, let index = indices.first {
                variables.append(("NCCL_IB_GID_INDEX", String(index)))
            } else {
                let detail = chosen.map { "\($0.device.name):\($0.port.number) at \(gidIndex["\($0.device.name):\($0.port.number)"]!.index)" }
                notes.append("the IPv4 RoCE v2 GID is at different indices (\(detail.joined(separator: ", "))): NCCL_IB_GID_INDEX not set, NCCL picks by version and address family")
                variables.append(("NCCL_IB_ROCE_VERSION_NUM", "2"))
                variables.append(("NCCL_IB_ADDR_FAMILY", "AF_INET"))
            }
        }
        var netdevs: [String] = []
        for entry in chosen {
            let key = "\(entry.device.name):\(entry.port.number)"
            let name = gidIndex[key]?.netdev ?? Self.netdev(beside: entry.port.number, of: entry.device)
            if let name, !netdevs.contains(name) { netdevs.append(name) }
        }
        if netdevs.isEmpty {
            notes.append("no network device found beside the chosen ports: NCCL_SOCKET_IFNAME not set")
        } else {
            variables.append(("NCCL_SOCKET_IFNAME", "=" + netdevs.joined(separator: ",")))
        }
    }

    /// The lowest-index RoCE v2 GID that carries an IPv4 address (NCCL's own preference
    /// with NCCL_IB_ADDR_FAMILY=AF_INET and NCCL_IB_ROCE_VERSION_NUM=2).
    static func roceV2IPv4(_ port: RDMAPort) -> GIDRecord? {
        port.gids.filter { $0.type == "RoCE v2" && $0.ipv4 != nil }.min { $0.index < $1.index }
    }

    /// The netdev of the port's PCI function: the one whose dev_port matches, or the
    /// only one there is.
    static func netdev(beside port: Int, of device: RDMADevice) -> String? {
        if let match = device.netdevs.first(where: { $0.port == port }) { return match.name }
        if device.netdevs.count == 1 { return device.netdevs[0].name }
        return nil
    }

    static func names(_ ports: [(device: RDMADevice, port: RDMAPort)]) -> String {
        ports.map { "\($0.device.name):\($0.port.number)" }.joined(separator: ", ")
    }

    /// `KEY=VALUE` lines, as `--nccl-env` prints them.
    public var lines: String { variables.map { "\($0.name)=\($0.value)\n" }.joined() }

    /// Whether an `NCCL_IB_HCA` value selects `device:port`, following NCCL's matching
    /// rules: without a prefix each entry matches device names by prefix; `=` makes the
    /// whole list exact; `^` excludes. A missing port in an entry matches every port.
    static func hcaListSelects(_ value: String, device: String, port: Int) -> Bool {
        var list = Substring(value)
        var exclude = false, exact = false
        if list.hasPrefix("^") { exclude = true; list = list.dropFirst() }
        if list.hasPrefix("=") { exact = true; list = list.dropFirst() }
        var matched = false
        for entry in list.split(separator: ",") {
            let parts = entry.split(separator: ":", maxSplits: 1)
            guard let name = parts.first else { continue }
            let nameMatches = exact ? name == device : device.hasPrefix(name)
            let portMatches = parts.count < 2 || Int(parts[1]) == port
            if nameMatches && portMatches { matched = true; break }
        }
        return exclude ? !matched : matched
    }
}
