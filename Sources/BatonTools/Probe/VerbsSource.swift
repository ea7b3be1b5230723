import Verbs

/// What libibverbs reports about one device (opened and queried).
public struct VerbsDeviceFacts: Sendable, Equatable {
    var name: String
    var uverbs: String
    var firmwareVersion: String?
    var nodeGUID: String?
    var ports: [VerbsPortFacts]
    /// Why opening or querying failed, if it did.
    var error: String?

    init(name: String, uverbs: String, firmwareVersion: String? = nil, nodeGUID: String? = nil, ports: [VerbsPortFacts] = [], error: String? = nil) {
        self.name = name
        self.uverbs = uverbs
        self.firmwareVersion = firmwareVersion
        self.nodeGUID = nodeGUID
        self.ports = ports
        self.error = error
    }
}

struct VerbsPortFacts: Sendable, Equatable {
    var number: Int
    var stateCode: Int
    var state: String
    var linkLayer: String
    var lid: Int
    var rateGbps: Double?
}

/// The answer of libibverbs' device list.
public enum VerbsListing: Sendable, Equatable {
    case devices([VerbsDeviceFacts])
    /// No devices; the text says how libibverbs put it.
    case noDevices(String)
    case failed(String)
}

/// Where the probe gets verbs facts. The live one calls libibverbs; tests use a fake to
/// exercise merging, since this machine has no RDMA hardware.
public protocol VerbsSource: Sendable {
    func listDevices() -> VerbsListing
}

/// Calls libibverbs for real: ibv_get_device_list, then for each device ibv_open_device,
/// ibv_query_device and ibv_query_port.
public struct LiveVerbsSource: VerbsSource {
    public init() {}

    public func listDevices() -> VerbsListing {
        let devices: [Device]
        do {
            devices = try Device.list()
        } catch {
            if error.isNoKernelSupport { return .noDevices(error.description) }
            return .failed(error.description)
        }
        if devices.isEmpty { return .noDevices("ibv_get_device_list returned an empty list") }
        return .devices(devices.map(Self.facts))
    }

    static func facts(_ device: Device) -> VerbsDeviceFacts {
        var facts = VerbsDeviceFacts(name: device.name, uverbs: device.uverbsName)
        do {
            let context = try Context(device: device)
            let attributes = try context.queryDevice()
            facts.firmwareVersion = attributes.firmwareVersion
            facts.nodeGUID = guidString(attributes.nodeGUID)
            if attributes.physicalPortCount > 0 {
                for number in 1...attributes.physicalPortCount {
                    let port = try context.queryPort(number)
                    facts.ports.append(VerbsPortFacts(
                        number: number, stateCode: port.state.rawValue, state: port.state.description,
                        linkLayer: port.linkLayer.rawValue, lid: Int(port.lid), rateGbps: port.rateGbps))
                }
            }
        } catch {
            facts.error = error.description
        }
        return facts
    }

    /// The sysfs spelling of a GUID: four groups of 4 hex digits.
    static func guidString(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        var groups: [Substring] = []
        var rest = Substring(padded)
        while !rest.isEmpty { groups.append(rest.prefix(4)); rest = rest.dropFirst(4) }
        return groups.joined(separator: ":")
    }
}
