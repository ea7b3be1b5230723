/// Runs the probe: sysfs first (works without opening anything), then libibverbs when
/// the sysfs root is this machine's /sys, merged into one `ProbeReport`.
public struct Prober: Sendable {
    var roots: ProbeRoots
    /// nil: decide from the roots (verbs only when the sysfs root is /sys).
    var verbs: (any VerbsSource)?
    var useVerbs: Bool?

    public init(roots: ProbeRoots = .system, verbs: (any VerbsSource)? = LiveVerbsSource(), useVerbs: Bool? = nil) {
        self.roots = roots
        self.verbs = verbs
        self.useVerbs = useVerbs
    }

    public func run() -> ProbeReport {
        var reader = SysfsReader(roots: roots)
        var devices = reader.readDevices()
        let nodes = reader.readDeviceNodes()
        var problems = reader.problems
        let limits = LimitsReader(roots: roots).read(problems: &problems)

        let status: VerbsStatus
        if let verbs, useVerbs ?? roots.sysfsIsSystem {
            switch verbs.listDevices() {
            case .noDevices(let what): status = .noDevices(what)
            case .failed(let what): status = .failed(what)
            case .devices(let facts):
                status = .devices(facts.map(\.name))
                Self.merge(facts, into: &devices, problems: &problems)
            }
            if case .devices = status {} else {
                for i in devices.indices { devices[i].seenByVerbs = false }
            }
        } else if verbs == nil {
            status = .skipped("disabled")
        } else {
            status = .skipped("--sysfs-root is not /sys, so libibverbs would describe another machine")
        }
        return ProbeReport(devices: devices, deviceNodes: nodes, limits: limits, verbs: status, problems: problems)
    }

    /// sysfs stays the primary source; verbs marks which devices it can open, fills what
    /// sysfs could not say, and adds devices only it knows.
    static func merge(_ facts: [VerbsDeviceFacts], into devices: inout [RDMADevice], problems: inout [ProbeProblem]) {
        let byName = Dictionary(facts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for i in devices.indices {
            guard let f = byName[devices[i].name] else {
                devices[i].seenByVerbs = false
                continue
            }
            devices[i].seenByVerbs = true
            if devices[i].uverbs == nil { devices[i].uverbs = f.uverbs }
            if devices[i].firmwareVersion == nil { devices[i].firmwareVersion = f.firmwareVersion }
            if devices[i].nodeGUID == nil { devices[i].nodeGUID = f.nodeGUID }
            for p in f.ports {
                if let j = devices[i].ports.firstIndex(where: { $0.number == p.number }) {
                    if devices[i].ports[j].stateCode == nil {
                        devices[i].ports[j].stateCode = p.stateCode
                        devices[i].ports[j].state = p.state
                    }
                    if devices[i].ports[j].linkLayer == nil { devices[i].ports[j].linkLayer = p.linkLayer }
                    if devices[i].ports[j].rateGbps == nil { devices[i].ports[j].rateGbps = p.rateGbps }
                    if devices[i].ports[j].lid == nil { devices[i].ports[j].lid = p.lid }
                } else {
                    var port = RDMAPort(number: p.number)
                    port.stateCode = p.stateCode
                    port.state = p.state
                    port.linkLayer = p.linkLayer
                    port.rateGbps = p.rateGbps
                    port.lid = p.lid
                    devices[i].ports.append(port)
                }
            }
            if let error = f.error {
                problems.append(ProbeProblem(path: "/dev/infiniband/\(f.uverbs)", problem: "libibverbs could not query \(f.name): \(error)"))
            }
        }
        for f in facts where !devices.contains(where: { $0.name == f.name }) {
            var device = RDMADevice(name: f.name)
            device.uverbs = f.uverbs
            device.firmwareVersion = f.firmwareVersion
            device.nodeGUID = f.nodeGUID
            device.seenByVerbs = true
            device.ports = f.ports.map { p in
                var port = RDMAPort(number: p.number)
                port.stateCode = p.stateCode
                port.state = p.state
                port.linkLayer = p.linkLayer
                port.rateGbps = p.rateGbps
                port.lid = p.lid
                return port
            }
            devices.append(device)
        }
    }
}
