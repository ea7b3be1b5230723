import Foundation
import Verbs

/// Reads RDMA devices from sysfs without opening them, the way ibstat does, rooted at
/// `ProbeRoots.sysfs` and `ProbeRoots.dev`. Unparseable or missing files become
/// `ProbeProblem`s with their path; reading carries on.
struct SysfsReader {
    let roots: ProbeRoots
    private(set) var problems: [ProbeProblem] = []

    init(roots: ProbeRoots) { self.roots = roots }

    mutating func readDevices() -> [RDMADevice] {
        let classDir = roots.sysPath("class/infiniband")
        guard let names = FileReading.list(classDir.real) else { return [] }
        let uverbs = readUverbsMap()
        return NaturalOrder.sorted(names).map { readDevice($0, at: classDir.appending($0), uverbs: uverbs) }
    }

    /// Logical paths of every node under /dev/infiniband (uverbsN, rdma_cm, umadN, issmN).
    func readDeviceNodes() -> [String] {
        let dir = roots.devPath("infiniband")
        guard let names = FileReading.list(dir.real) else { return [] }
        return NaturalOrder.sorted(names).map { dir.appending($0).logical }
    }

    /// ibdev name -> "uverbsN", from class/infiniband_verbs/uverbsN/ibdev.
    private mutating func readUverbsMap() -> [String: String] {
        let dir = roots.sysPath("class/infiniband_verbs")
        guard let names = FileReading.list(dir.real) else { return [:] }
        var map: [String: String] = [:]
        for name in NaturalOrder.sorted(names) where name.hasPrefix("uverbs") {
            let path = dir.appending(name).appending("ibdev")
            guard let ibdev = required(path) else { continue }
            if ibdev.isEmpty || ibdev.contains(where: { $0.isWhitespace }) {
                problem(path, "not a device name: \(Self.quoted(ibdev))")
                continue
            }
            map[ibdev] = name
        }
        return map
    }

    private mutating func readDevice(_ name: String, at base: RootedPath, uverbs: [String: String]) -> RDMADevice {
        var device = RDMADevice(name: name)
        if let text = required(base.appending("node_type")) {
            if let (_, label) = Self.numberedName(text) { device.nodeType = label } else {
                problem(base.appending("node_type"), "expected \"N: NAME\" (e.g. \"1: CA\"), found \(Self.quoted(text))")
            }
        }
        device.nodeGUID = guid(base.appending("node_guid"))
        device.systemImageGUID = guid(base.appending("sys_image_guid"))
        device.firmwareVersion = required(base.appending("fw_ver")).flatMap { nonEmpty($0, base.appending("fw_ver")) }
        device.hcaType = optional(base.appending("hca_type")).flatMap { nonEmpty($0, base.appending("hca_type")) }
        device.boardID = optional(base.appending("board_id")).flatMap { nonEmpty($0, base.appending("board_id")) }
        device.uverbs = uverbs[name]
        if let text = optional(base.appending("device/numa_node")) {
            if let n = Int(text) { device.numaNode = n >= 0 ? n : nil } else {
                problem(base.appending("device/numa_node"), "expected an integer, found \(Self.quoted(text))")
            }
        }
        if let uevent = optional(base.appending("device/uevent")) {
            for line in uevent.split(separator: "\n") {
                if line.hasPrefix("PCI_SLOT_NAME=") { device.pciSlot = String(line.dropFirst("PCI_SLOT_NAME=".count)) }
                if line.hasPrefix("DRIVER=") { device.driver = String(line.dropFirst("DRIVER=".count)) }
            }
        }
        let netDir = base.appending("device/net")
        if let netNames = FileReading.list(netDir.real) {
            for net in NaturalOrder.sorted(netNames) {
                var port: Int?
                if let text = optional(netDir.appending(net).appending("dev_port")) {
                    if let n = Int(text), n >= 0 { port = n + 1 } else {
                        problem(netDir.appending(net).appending("dev_port"), "expected an integer, found \(Self.quoted(text))")
                    }
                }
                device.netdevs.append(NetDevice(name: net, port: port))
            }
        }
        let portsDir = base.appending("ports")
        guard let portNames = FileReading.list(portsDir.real) else {
            problem(portsDir, "missing: a device without ports/ cannot be used")
            return device
        }
        for portName in NaturalOrder.sorted(portNames) {
            guard let number = Int(portName), number >= 1 else {
                problem(portsDir.appending(portName), "not a port number")
                continue
            }
            device.ports.append(readPort(number, at: portsDir.appending(portName)))
        }
        return device
    }

    private mutating func readPort(_ number: Int, at base: RootedPath) -> RDMAPort {
        var port = RDMAPort(number: number)
        if let text = required(base.appending("state")) {
            if let (code, label) = Self.numberedName(text) {
                port.stateCode = code
                port.state = label
            } else {
                problem(base.appending("state"), "expected \"N: NAME\" (e.g. \"4: ACTIVE\"), found \(Self.quoted(text))")
            }
        }
        if let text = required(base.appending("phys_state")) {
            if let (_, label) = Self.numberedName(text) { port.physState = label } else {
                problem(base.appending("phys_state"), "expected \"N: NAME\" (e.g. \"5: LinkUp\"), found \(Self.quoted(text))")
            }
        }
        if let text = required(base.appending("link_layer")) {
            if ["InfiniBand", "Ethernet", "Unknown"].contains(text) { port.linkLayer = text } else {
                problem(base.appending("link_layer"), "expected InfiniBand, Ethernet or Unknown, found \(Self.quoted(text))")
            }
        }
        // rate_show answers EINVAL while the port has no link speed yet (some drivers,
        // port down): unknown, not a problem. A missing file still is one.
        if FileReading.read(base.appending("rate").real) == .failed(EINVAL) {
            port.rate = nil
        } else if let text = required(base.appending("rate")) {
            if let gbps = Self.rateGbps(text) {
                port.rate = text
                port.rateGbps = gbps
            } else {
                problem(base.appending("rate"), "expected \"G Gb/sec (WX SPEED)\", found \(Self.quoted(text))")
            }
        }
        port.lid = hex(base.appending("lid"))
        port.smLID = hex(base.appending("sm_lid"))
        let gidsDir = base.appending("gids")
        guard let gidNames = FileReading.list(gidsDir.real) else {
            problem(gidsDir, "missing")
            return port
        }
        for name in NaturalOrder.sorted(gidNames) {
            guard let index = Int(name), index >= 0 else {
                problem(gidsDir.appending(name), "not a GID index")
                continue
            }
            let path = gidsDir.appending(name)
            guard let text = required(path) else { continue }
            guard let gid = GID(sysfs: text) else {
                let shape = text.count == 39
                    ? "not 8 groups of 4 hex digits"
                    : "\(text.count) characters, expected 39 (8 groups of 4 hex digits)"
                problem(path, "not a GID (\(shape)): \(Self.quoted(text))")
                continue
            }
            if gid.isZero { continue }
            var record = GIDRecord(index: index, gid: gid.description, ipv4: gid.ipv4)
            let typePath = base.appending("gid_attrs/types/\(name)")
            if let typeText = attribute(typePath) {
                if GIDType(sysfs: typeText) != nil { record.type = typeText } else {
                    problem(typePath, "expected \"IB/RoCE v1\" or \"RoCE v2\", found \(Self.quoted(typeText))")
                }
            }
            let ndevPath = base.appending("gid_attrs/ndevs/\(name)")
            if let ndev = attribute(ndevPath), !ndev.isEmpty { record.netdev = ndev }
            port.gids.append(record)
        }
        return port
    }

    // MARK: - Reading helpers

    /// A file that must exist: missing or unreadable is a problem.
    private mutating func required(_ path: RootedPath) -> String? {
        switch FileReading.read(path.real) {
        case .text(let t): return t
        case .missing: problem(path, "missing"); return nil
        case .failed(let e): problem(path, "unreadable: \(FileReading.errnoText(e))"); return nil
        }
    }

    /// A file some drivers or kernels do not have: missing is fine, unreadable is a problem.
    private mutating func optional(_ path: RootedPath) -> String? {
        switch FileReading.read(path.real) {
        case .text(let t): return t
        case .missing: return nil
        case .failed(let e): problem(path, "unreadable: \(FileReading.errnoText(e))"); return nil
        }
    }

    /// A GID attribute: the kernel answers EINVAL for entries without one; a fixture
    /// leaves the file out. Both mean "none".
    private mutating func attribute(_ path: RootedPath) -> String? {
        switch FileReading.read(path.real) {
        case .text(let t): return t
        case .missing: return nil
        case .failed(let e) where e == EINVAL || e == ENODATA: return nil
        case .failed(let e): problem(path, "unreadable: \(FileReading.errnoText(e))"); return nil
        }
    }

    private mutating func nonEmpty(_ text: String, _ path: RootedPath) -> String? {
        if text.trimmingCharacters(in: .whitespaces).isEmpty {
            problem(path, "empty")
            return nil
        }
        return text
    }

    private mutating func guid(_ path: RootedPath) -> String? {
        guard let text = required(path) else { return nil }
        if Self.isGUID(text) { return text }
        problem(path, "expected four groups of 4 hex digits (e.g. 0c42:a103:0065:d6b6), found \(Self.quoted(text))")
        return nil
    }

    private mutating func hex(_ path: RootedPath) -> Int? {
        guard let text = required(path) else { return nil }
        if text.hasPrefix("0x"), let value = Int(text.dropFirst(2), radix: 16) { return value }
        problem(path, "expected a hex number like 0x4, found \(Self.quoted(text))")
        return nil
    }

    private mutating func problem(_ path: RootedPath, _ text: String) {
        problems.append(ProbeProblem(path: path.logical, problem: text))
    }

    // MARK: - Parsers (kernel drivers/infiniband/core/sysfs.c formats)

    /// "4: ACTIVE" -> (4, "ACTIVE").
    static func numberedName(_ text: String) -> (Int, String)? {
        guard let colon = text.firstIndex(of: ":"), let code = Int(text[..<colon]) else { return nil }
        let rest = text[text.index(after: colon)...]
        guard rest.hasPrefix(" ") else { return nil }
        let name = rest.dropFirst()
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace }) else { return nil }
        return (code, String(name))
    }

    /// "200 Gb/sec (4X HDR)" -> 200; "2.5 Gb/sec (1X SDR)" -> 2.5.
    static func rateGbps(_ text: String) -> Double? {
        let parts = text.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[1] == "Gb/sec", let value = Double(parts[0]), value >= 0, value.isFinite else { return nil }
        if parts.count == 3, !(parts[2].hasPrefix("(") && parts[2].hasSuffix(")")) { return nil }
        return value
    }

    static func isGUID(_ text: String) -> Bool {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        return groups.count == 4 && groups.allSatisfy { $0.count == 4 && $0.allSatisfy(\.isHexDigit) }
    }

    /// Shows garbage safely: quoted, control characters escaped, long text cut.
    static func quoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(60) {
            if scalar == "\"" { out += "\\\"" } else if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\x" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16)
            } else if scalar.value > 0x7e {
                // sysfs attributes are ASCII; anything else (including bytes that were not
                // UTF-8, decoded as U+FFFD) is shown as a code point.
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else { out.unicodeScalars.append(scalar) }
        }
        return "\"" + out + (text.unicodeScalars.count > 60 ? "..." : "") + "\""
    }
}
