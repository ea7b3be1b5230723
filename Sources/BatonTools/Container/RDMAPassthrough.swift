/// What a container needs from the host to use its RDMA devices, whatever the runtime: the
/// device nodes (one uverbs node per HCA, and rdma_cm), the read-only mounts (sysfs and the
/// NCCL configuration files) and the NCCL environment. `container-flags` spells it as flags,
/// `container-config` as the runtime's own configuration files. Paths are the host's
/// (logical) paths.
struct RDMAPassthrough: Sendable {
    /// An HCA that can be passed in: its name and its uverbs device node.
    struct HCA: Sendable, Equatable {
        var name: String
        var node: String
    }

    /// The HCAs whose uverbs node exists, in probe order.
    var hcas: [HCA]
    /// `/dev/infiniband/rdma_cm`, when the host has it.
    var rdmaCM: String?
    /// Read-only mounts (source = destination).
    var mounts: [String]
    var nccl: NCCLEnvironment
    /// For people: what was left out and why.
    var notes: [String]

    /// Device nodes passed in: every HCA's uverbs node, then rdma_cm.
    var devices: [String] { hcas.map(\.node) + (rdmaCM.map { [$0] } ?? []) }

    init(report: ProbeReport, etcFiles: NCCLConfigFiles) {
        nccl = NCCLEnvironment(report: report)
        notes = nccl.notes
        hcas = []
        for device in report.devices {
            guard let uverbs = device.uverbs else {
                notes.append("\(device.name) has no uverbs device in /sys/class/infiniband_verbs: it cannot be used from a container")
                continue
            }
            let node = "/dev/infiniband/\(uverbs)"
            if report.deviceNodes.contains(node) { hcas.append(HCA(name: device.name, node: node)) } else {
                notes.append("\(node) (\(device.name)) is missing on this host: libibverbs will not list \(device.name)")
            }
        }
        rdmaCM = report.deviceNodes.contains("/dev/infiniband/rdma_cm") ? "/dev/infiniband/rdma_cm" : nil
        mounts = []
        if !report.devices.isEmpty { mounts.append("/sys/class/infiniband") }
        mounts += etcFiles.mountable
    }

    /// enroot's MELLANOX_VISIBLE_DEVICES for the HCAs NCCL_IB_HCA selects, with a note when it
    /// falls back to `all`; nil without RDMA devices. enroot's mellanox hook numbers mlx
    /// devices in the order of /sys/bus/pci/drivers/mlx?_core/*/infiniband_verbs/*, i.e. by
    /// driver, then PCI address; MELLANOX_VISIBLE_DEVICES takes those numbers.
    static func mellanoxVisibleDevices(_ report: ProbeReport, nccl: NCCLEnvironment) -> (value: String, note: String?)? {
        guard !report.devices.isEmpty else { return nil }
        let mlx = report.devices.filter { ($0.driver ?? "").hasPrefix("mlx") && $0.pciSlot != nil && $0.uverbs != nil }
        let ordered = mlx.sorted { ($0.driver!, $0.pciSlot!, $0.uverbs!) < ($1.driver!, $1.pciSlot!, $1.uverbs!) }
        let wanted = Set(nccl["NCCL_IB_HCA"].map { value in
            report.devices.filter { d in d.ports.contains { NCCLEnvironment.hcaListSelects(value, device: d.name, port: $0.number) } }.map(\.name)
        } ?? [])
        let indices = ordered.enumerated().filter { wanted.contains($0.element.name) }.map { String($0.offset) }
        if !wanted.isEmpty && indices.count == wanted.count { return (indices.joined(separator: ","), nil) }
        return ("all", wanted.isEmpty ? nil : "PCI addresses of some devices unknown: MELLANOX_VISIBLE_DEVICES=all")
    }
}
