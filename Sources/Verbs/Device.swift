import CIBVerbs

/// Kind of RDMA node (`enum ibv_node_type`).
public enum NodeType: Sendable, Hashable, CustomStringConvertible {
    case channelAdapter, switchNode, router, rnic, usnic, usnicUDP, unspecified, unknown(Int32)

    init(raw: Int32) {
        switch raw {
        case 1: self = .channelAdapter
        case 2: self = .switchNode
        case 3: self = .router
        case 4: self = .rnic
        case 5: self = .usnic
        case 6: self = .usnicUDP
        case 7: self = .unspecified
        default: self = .unknown(raw)
        }
    }

    /// The name the kernel and ibv_devinfo use ("CA", "RNIC", ...).
    public var description: String {
        switch self {
        case .channelAdapter: return "CA"
        case .switchNode: return "SWITCH"
        case .router: return "ROUTER"
        case .rnic: return "RNIC"
        case .usnic: return "USNIC"
        case .usnicUDP: return "USNIC_UDP"
        case .unspecified: return "UNSPECIFIED"
        case .unknown(let raw): return "unknown (\(raw))"
        }
    }
}

/// One RDMA device as libibverbs lists it. A value: the C list is freed before
/// `Device.list()` returns; open it with `Context(device:)`.
public struct Device: Sendable, Hashable {
    /// Kernel device name, e.g. "mlx5_0".
    public let name: String
    /// Name of its verbs character device, e.g. "uverbs0" (`/dev/infiniband/uverbs0`).
    public let uverbsName: String
    /// Node GUID in host byte order.
    public let nodeGUID: UInt64
    public let nodeType: NodeType
    /// The device's directory in sysfs, e.g. "/sys/class/infiniband/mlx5_0".
    public let sysfsPath: String

    /// Lists the RDMA devices libibverbs can see. A device whose `/dev/infiniband/uverbsN`
    /// is missing is left out by libibverbs itself.
    ///
    /// Throws with `isNoKernelSupport` true when the kernel has no verbs support (the
    /// usual answer on a machine without RDMA hardware); an empty list is the other
    /// normal "no devices" answer.
    ///
    /// The corresponding verbs function is `ibv_get_device_list`.
    public static func list() throws(VerbsError) -> [Device] {
        var count: Int32 = 0
        cibv_clear_errno()
        guard let list = cibv_get_device_list(&count) else {
            throw VerbsError.fromErrno("ibv_get_device_list")
        }
        defer { ibv_free_device_list(list) }
        var devices: [Device] = []
        for i in 0..<Int(max(0, count)) {
            guard let device = list[i] else { break }
            devices.append(Device(device))
        }
        return devices
    }

    init(_ device: UnsafeMutablePointer<ibv_device>) {
        name = ibv_get_device_name(device).map { String(cString: $0) } ?? ""
        uverbsName = withUnsafeBytes(of: device.pointee.dev_name) { Device.string($0) }
        sysfsPath = withUnsafeBytes(of: device.pointee.ibdev_path) { Device.string($0) }
        nodeGUID = UInt64(bigEndian: ibv_get_device_guid(device))
        nodeType = NodeType(raw: device.pointee.node_type.rawValue)
    }

    static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
