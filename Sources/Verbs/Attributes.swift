import CIBVerbs

/// What `ibv_query_device` reports about a device (the fields a user reads; more can be
/// added without breaking callers).
public struct DeviceAttributes: Sendable, Hashable {
    public let firmwareVersion: String
    /// GUIDs in host byte order.
    public let nodeGUID: UInt64
    public let systemImageGUID: UInt64
    public let vendorID: UInt32
    /// The PCI device id, e.g. 4123 for ConnectX-6 (sysfs `hca_type` shows "MT4123").
    public let vendorPartID: UInt32
    public let hardwareVersion: UInt32
    public let physicalPortCount: Int
    public let maxQueuePairs: Int
    public let maxQueuePairWorkRequests: Int
    public let maxCompletionQueues: Int
    public let maxCompletionQueueEntries: Int
    public let maxMemoryRegions: Int
    public let maxMemoryRegionSize: UInt64
    public let maxProtectionDomains: Int
    public let maxScatterGatherEntries: Int

    init(_ a: ibv_device_attr) {
        firmwareVersion = withUnsafeBytes(of: a.fw_ver) { Device.string($0) }
        nodeGUID = UInt64(bigEndian: a.node_guid)
        systemImageGUID = UInt64(bigEndian: a.sys_image_guid)
        vendorID = a.vendor_id
        vendorPartID = a.vendor_part_id
        hardwareVersion = a.hw_ver
        physicalPortCount = Int(a.phys_port_cnt)
        maxQueuePairs = Int(a.max_qp)
        maxQueuePairWorkRequests = Int(a.max_qp_wr)
        maxCompletionQueues = Int(a.max_cq)
        maxCompletionQueueEntries = Int(a.max_cqe)
        maxMemoryRegions = Int(a.max_mr)
        maxMemoryRegionSize = a.max_mr_size
        maxProtectionDomains = Int(a.max_pd)
        maxScatterGatherEntries = Int(a.max_sge)
    }
}

/// Logical port state (`enum ibv_port_state`); the numbers match sysfs `ports/N/state`.
public struct PortState: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let nop = PortState(rawValue: 0)
    public static let down = PortState(rawValue: 1)
    public static let initialized = PortState(rawValue: 2)
    public static let armed = PortState(rawValue: 3)
    public static let active = PortState(rawValue: 4)
    public static let activeDefer = PortState(rawValue: 5)

    /// The name sysfs prints ("ACTIVE", "DOWN", ...).
    public var description: String {
        ["NOP", "DOWN", "INIT", "ARMED", "ACTIVE", "ACTIVE_DEFER"].indices.contains(rawValue)
            ? ["NOP", "DOWN", "INIT", "ARMED", "ACTIVE", "ACTIVE_DEFER"][rawValue] : "UNKNOWN(\(rawValue))"
    }
}

/// Link layer of a port.
public enum LinkLayer: String, Sendable, Hashable, CustomStringConvertible {
    case infiniband = "InfiniBand"
    case ethernet = "Ethernet"
    case unspecified = "Unknown"

    init(raw: UInt8) {
        switch Int32(raw) {
        case Int32(IBV_LINK_LAYER_INFINIBAND): self = .infiniband
        case Int32(IBV_LINK_LAYER_ETHERNET): self = .ethernet
        default: self = .unspecified
        }
    }
    public var description: String { rawValue }
}

/// What `ibv_query_port` reports about one port.
public struct PortAttributes: Sendable, Hashable {
    public let state: PortState
    /// Physical state, numbered as sysfs `phys_state` (5 = LinkUp).
    public let physicalState: Int
    public let linkLayer: LinkLayer
    public let lid: UInt16
    public let subnetManagerLID: UInt16
    public let gidTableLength: Int
    /// Active MTU in bytes (256...4096).
    public let activeMTU: Int
    public let maxMTU: Int
    /// Lane count (1, 2, 4, 8 or 12), from `active_width`.
    public let activeLanes: Int?
    /// Per-lane signalling rate in Gb/s, from `active_speed` (e.g. 50 for HDR).
    public let laneGbps: Double?

    /// Link rate in Gb/s, lanes times per-lane rate (e.g. 4 x 50 = 200 for 4X HDR).
    public var rateGbps: Double? {
        guard let activeLanes, let laneGbps else { return nil }
        return Double(activeLanes) * laneGbps
    }

    init(_ a: ibv_port_attr) {
        state = PortState(rawValue: Int(a.state.rawValue))
        physicalState = Int(a.phys_state)
        linkLayer = LinkLayer(raw: a.link_layer)
        lid = a.lid
        subnetManagerLID = a.sm_lid
        gidTableLength = Int(a.gid_tbl_len)
        activeMTU = PortAttributes.mtuBytes(Int(a.active_mtu.rawValue))
        maxMTU = PortAttributes.mtuBytes(Int(a.max_mtu.rawValue))
        activeLanes = PortAttributes.lanes(width: Int(a.active_width))
        laneGbps = PortAttributes.laneGbps(speed: Int(a.active_speed))
    }

    static func mtuBytes(_ code: Int) -> Int { code >= 1 && code <= 5 ? 128 << code : 0 }

    /// `active_width` encoding (IB spec, ibv_query_port(3)): 1=1X 2=4X 4=8X 8=12X 16=2X.
    public static func lanes(width: Int) -> Int? {
        [1: 1, 2: 4, 4: 8, 8: 12, 16: 2][width]
    }

    /// `active_speed` encoding (ibv_query_port(3)): 1 SDR 2.5, 2 DDR 5, 4 QDR 10,
    /// 8 FDR10 10, 16 FDR 14, 32 EDR 25, 64 HDR 50, 128 NDR 100 Gb/s per lane.
    public static func laneGbps(speed: Int) -> Double? {
        [1: 2.5, 2: 5, 4: 10, 8: 10, 16: 14, 32: 25, 64: 50, 128: 100][speed]
    }
}
