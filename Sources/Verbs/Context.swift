import CIBVerbs

/// An open RDMA device. Owns the `ibv_context` and closes it in `deinit`.
///
/// libibverbs is thread-safe for these calls, so a `Context` may be shared across
/// threads. Objects created from a context (protection domains, queues, later) keep a
/// strong reference to it, so the device stays open while they live.
public final class Context: @unchecked Sendable {
    /// The `struct ibv_context *`; internal so no C type leaks into the public API.
    let handle: OpaquePointer
    /// The device this context was opened on.
    public let device: Device

    /// Opens `device`.
    ///
    /// The corresponding verbs function is `ibv_open_device`.
    public init(device: Device) throws(VerbsError) {
        var count: Int32 = 0
        cibv_clear_errno()
        guard let list = cibv_get_device_list(&count) else {
            throw VerbsError.fromErrno("ibv_get_device_list")
        }
        // Devices that are not opened become invalid once the list is freed; the one we
        // open stays valid (ibv_free_device_list(3)).
        defer { ibv_free_device_list(list) }
        var found: UnsafeMutablePointer<ibv_device>?
        for i in 0..<Int(max(0, count)) {
            guard let candidate = list[i] else { break }
            if let name = ibv_get_device_name(candidate), String(cString: name) == device.name {
                found = candidate
                break
            }
        }
        guard let found else { throw VerbsError(.deviceNotFound(device.name), function: "ibv_get_device_list") }
        cibv_clear_errno()
        guard let context = ibv_open_device(found) else { throw VerbsError.fromErrno("ibv_open_device") }
        self.handle = OpaquePointer(context)
        self.device = Device(found)
    }

    /// Opens the device called `name` (e.g. "mlx5_0").
    public convenience init(named name: String) throws(VerbsError) {
        guard let device = try Device.list().first(where: { $0.name == name }) else {
            throw VerbsError(.deviceNotFound(name), function: "ibv_get_device_list")
        }
        try self.init(device: device)
    }

    deinit {
        ibv_close_device(UnsafeMutablePointer<ibv_context>(handle))
    }

    /// The C context, for calls made by this module (and by PD/CQ/QP types added to it).
    var pointer: UnsafeMutablePointer<ibv_context> { UnsafeMutablePointer<ibv_context>(handle) }

    /// The device's attributes: firmware, GUIDs, limits, port count.
    ///
    /// The corresponding verbs function is `ibv_query_device`.
    public func queryDevice() throws(VerbsError) -> DeviceAttributes {
        var attr = ibv_device_attr()
        try VerbsError.check(ibv_query_device(pointer, &attr), "ibv_query_device")
        return DeviceAttributes(attr)
    }

    /// The state and properties of port `port` (numbered from 1).
    ///
    /// The corresponding verbs function is `ibv_query_port` (a macro in verbs.h, called
    /// through the `cibv_query_port` shim so the current ABI is used, not the compat symbol).
    public func queryPort(_ port: Int) throws(VerbsError) -> PortAttributes {
        guard let port8 = UInt8(exactly: port), port8 >= 1 else {
            throw VerbsError(.invalidArgument("port \(port) is not in 1...255"), function: "ibv_query_port")
        }
        var attr = ibv_port_attr()
        try VerbsError.check(cibv_query_port(pointer, port8, &attr), "ibv_query_port")
        return PortAttributes(attr)
    }

    /// GID table entry `index` of port `port`.
    ///
    /// The corresponding verbs function is `ibv_query_gid`.
    public func queryGID(port: Int, index: Int) throws(VerbsError) -> GID {
        guard let port8 = UInt8(exactly: port), port8 >= 1, let index32 = Int32(exactly: index), index32 >= 0 else {
            throw VerbsError(.invalidArgument("port \(port) / GID index \(index) out of range"), function: "ibv_query_gid")
        }
        var gid = ibv_gid()
        try VerbsError.check(ibv_query_gid(pointer, port8, index32, &gid), "ibv_query_gid")
        return GID(gid)
    }

    /// GID table entry `index` of port `port` with its type and network device. Unused
    /// entries fail with ENODATA (rdma-core), which is returned as `nil`.
    ///
    /// The corresponding verbs function is `ibv_query_gid_ex`.
    public func queryGIDEntry(port: Int, index: Int) throws(VerbsError) -> GIDEntry? {
        guard let port32 = UInt32(exactly: port), port32 >= 1, let index32 = UInt32(exactly: index) else {
            throw VerbsError(.invalidArgument("port \(port) / GID index \(index) out of range"), function: "ibv_query_gid_ex")
        }
        var entry = ibv_gid_entry()
        let rc = cibv_query_gid_ex(pointer, port32, index32, &entry)
        if rc == ENODATA || (rc < 0 && cibv_errno() == ENODATA) { return nil }
        try VerbsError.check(rc, "ibv_query_gid_ex")
        return GIDEntry(
            gid: GID(entry.gid), index: Int(entry.gid_index), port: Int(entry.port_num),
            type: GIDType(raw: entry.gid_type), netdevIndex: entry.ndev_ifindex == 0 ? nil : Int(entry.ndev_ifindex))
    }
}
