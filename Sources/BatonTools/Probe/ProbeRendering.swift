import BatonSupport
extension ProbeReport {
    /// The `--json` form. Keys: devices, device_nodes, limits, source, verbs, problems.
    public var json: OrderedJSON {
        .object([
            ("source", .string(source)),
            ("verbs", .object([("status", .string(verbs.statusWord)), ("detail", .string(verbs.summary))])),
            ("devices", .array(devices.map(\.json))),
            ("device_nodes", .array(deviceNodes.map { .string($0) })),
            ("limits", .object([
                ("memlock_bytes", limits.memlockUnknown ? .null : limits.memlockBytes.map { .int(Int(clamping: $0)) } ?? .null),
                // null together with memlock_bytes null: the limit could not be read.
                ("memlock_unlimited", limits.memlockUnknown ? .null : .bool(limits.memlockBytes == nil)),
                ("shm_bytes", limits.shmBytes.map { .int(Int(clamping: $0)) } ?? .null),
                ("cap_ipc_lock", limits.hasIPCLock.map { .bool($0) } ?? .null),
            ])),
            ("problems", .array(problems.map { .object([("path", .string($0.path)), ("problem", .string($0.problem))]) })),
        ])
    }

    /// The readable table `baton probe` prints.
    public var table: String {
        var out: [String] = []
        if devices.isEmpty {
            out.append("no RDMA devices (source: \(source); libibverbs: \(verbs.summary))")
        } else {
            let portCount = devices.reduce(0) { $0 + $1.ports.count }
            out.append("\(devices.count) RDMA device\(devices.count == 1 ? "" : "s"), \(activePorts.count) of \(portCount) ports ACTIVE (source: \(source); libibverbs: \(verbs.summary))")
            out.append("")
            var rows: [[String]] = []
            for d in devices {
                let common = [d.uverbs ?? "-", d.numaNode.map(String.init) ?? "-", d.firmwareVersion ?? "?", d.hcaType ?? "-", d.nodeGUID ?? "?"]
                if d.ports.isEmpty { rows.append([d.name, "-", "?", "?", "?", "?", "?"] + common) }
                for p in d.ports {
                    rows.append([
                        d.name, String(p.number), p.state ?? "?", p.physState ?? "?", p.linkLayer ?? "?",
                        p.rateGbps.map { formatNumber($0) + " Gb/s" } ?? "?", p.lid.map(String.init) ?? "?",
                    ] + common)
                }
            }
            out.append(TextTable.render(
                header: ["DEVICE", "PORT", "STATE", "PHYS", "LINK", "RATE", "LID", "UVERBS", "NUMA", "FW", "HCA", "NODE GUID"],
                rows: rows))
            let gidRows = devices.flatMap { d in
                d.ports.flatMap { p in
                    p.gids.map { g in [d.name, String(p.number), String(g.index), g.gid, g.type ?? "-", g.netdev ?? "-", g.ipv4 ?? "-"] }
                }
            }
            if !gidRows.isEmpty {
                out.append("")
                out.append(TextTable.render(header: ["DEVICE", "PORT", "INDEX", "GID", "TYPE", "NETDEV", "IPV4"], rows: gidRows))
            }
        }
        out.append("")
        out.append("device nodes: " + (deviceNodes.isEmpty ? "none under /dev/infiniband" : Self.compress(deviceNodes)))
        let memlock = limits.memlockUnknown ? "unknown" : limits.memlockBytes.map(ByteSize.human) ?? "unlimited"
        let ipcLock = limits.hasIPCLock == true ? " (CAP_IPC_LOCK held: pinning is not limited)" : ""
        out.append("limits: memlock \(memlock)\(ipcLock); /dev/shm \(limits.shmBytes.map(ByteSize.human) ?? "missing")")
        if !problems.isEmpty {
            out.append("")
            out.append("could not use \(problems.count) file\(problems.count == 1 ? "" : "s"):")
            for p in problems { out.append("  \(p.path): \(p.problem)") }
        }
        return out.joined(separator: "\n") + "\n"
    }
}

extension ProbeReport {
    /// "/dev/infiniband/uverbs0 ... uverbs11" -> "/dev/infiniband/{rdma_cm,uverbs0-11}":
    /// numbered nodes with one prefix become a range when the numbers are consecutive.
    static func compress(_ paths: [String]) -> String {
        var groups: [(dir: String, names: [String])] = []
        for path in paths {
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let dir = String(path[..<slash]), name = String(path[path.index(after: slash)...])
            if let i = groups.firstIndex(where: { $0.dir == dir }) { groups[i].names.append(name) } else { groups.append((dir, [name])) }
        }
        return groups.map { group in
            var parts: [String] = []
            var numbered: [(prefix: String, numbers: [Int])] = []
            for name in group.names {
                let digits = name.reversed().prefix { $0.isNumber }
                guard !digits.isEmpty, let n = Int(String(digits.reversed())) else { parts.append(name); continue }
                let prefix = String(name.dropLast(digits.count))
                if let i = numbered.firstIndex(where: { $0.prefix == prefix }) { numbered[i].numbers.append(n) } else { numbered.append((prefix, [n])) }
            }
            for (prefix, numbers) in numbered {
                let sorted = numbers.sorted()
                if sorted.count > 2, sorted.last! - sorted.first! == sorted.count - 1 {
                    parts.append("\(prefix)\(sorted.first!)-\(sorted.last!)")
                } else {
                    parts += sorted.map { "\(prefix)\($0)" }
                }
            }
            return group.dir + "/{" + parts.joined(separator: ",") + "}"
        }.joined(separator: " ")
    }
}

extension RDMADevice {
    var json: OrderedJSON {
        .object([
            ("name", .string(name)),
            ("node_type", .optional(nodeType)),
            ("node_guid", .optional(nodeGUID)),
            ("sys_image_guid", .optional(systemImageGUID)),
            ("fw_ver", .optional(firmwareVersion)),
            ("hca_type", .optional(hcaType)),
            ("board_id", .optional(boardID)),
            ("uverbs", .optional(uverbs)),
            ("numa_node", .optional(numaNode)),
            ("pci_slot", .optional(pciSlot)),
            ("netdevs", .array(netdevs.map { .object([("name", .string($0.name)), ("port", .optional($0.port))]) })),
            ("seen_by_verbs", seenByVerbs.map { .bool($0) } ?? .null),
            ("ports", .array(ports.map(\.json))),
        ])
    }
}

extension RDMAPort {
    var json: OrderedJSON {
        .object([
            ("port", .int(number)),
            ("state", .optional(state)),
            ("phys_state", .optional(physState)),
            ("link_layer", .optional(linkLayer)),
            ("rate", .optional(rate)),
            ("rate_gbps", .optional(rateGbps)),
            ("lid", .optional(lid)),
            ("sm_lid", .optional(smLID)),
            ("gids", .array(gids.map { g in
                .object([
                    ("index", .int(g.index)), ("gid", .string(g.gid)), ("type", .optional(g.type)),
                    ("netdev", .optional(g.netdev)), ("ipv4", .optional(g.ipv4)),
                ])
            })),
        ])
    }
}
