import CIBVerbs

/// A protection domain: the scope in which memory regions and queue pairs may be used
/// together. Deallocated in `deinit`; keeps its context open.
public final class ProtectionDomain: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_pd>
    /// The device context this domain belongs to.
    public let context: Context

    /// Allocates a protection domain on `context`.
    ///
    /// The corresponding verbs function is `ibv_alloc_pd`.
    public init(context: Context) throws(VerbsError) {
        cibv_clear_errno()
        guard let pd = ibv_alloc_pd(context.pointer) else { throw VerbsError.fromErrno("ibv_alloc_pd") }
        self.pointer = pd
        self.context = context
    }

    deinit { ibv_dealloc_pd(pointer) }
}

/// What the NIC may do with a memory region (`enum ibv_access_flags`).
public struct AccessFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The local NIC may write (needed for receives and RDMA read targets).
    public static let localWrite = AccessFlags(rawValue: IBV_ACCESS_LOCAL_WRITE.rawValue)
    /// A peer may RDMA-write into it.
    public static let remoteWrite = AccessFlags(rawValue: IBV_ACCESS_REMOTE_WRITE.rawValue)
    /// A peer may RDMA-read from it.
    public static let remoteRead = AccessFlags(rawValue: IBV_ACCESS_REMOTE_READ.rawValue)
}

/// Page-aligned memory registered with the NIC. The region owns the memory, so it can
/// never be freed while the NIC may still read or write it: `deinit` deregisters first,
/// then frees.
public final class MemoryRegion: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_mr>
    let memory: UnsafeMutableRawPointer
    /// The domain the region is registered in.
    public let protectionDomain: ProtectionDomain
    /// Length in bytes.
    public let length: Int

    /// Allocates `length` bytes (page-aligned, zeroed) and registers them with `access`.
    ///
    /// The corresponding verbs function is `ibv_reg_mr` (a macro in verbs.h, called
    /// through the `cibv_reg_mr` shim).
    public init(protectionDomain: ProtectionDomain, length: Int, access: AccessFlags) throws(VerbsError) {
        guard length > 0 else { throw VerbsError(.invalidArgument("a memory region needs at least 1 byte"), function: "ibv_reg_mr") }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 4096)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: length)
        cibv_clear_errno()
        guard let mr = cibv_reg_mr(protectionDomain.pointer, memory, length, Int32(bitPattern: access.rawValue)) else {
            let error = VerbsError.fromErrno("ibv_reg_mr")
            memory.deallocate()
            throw error
        }
        self.pointer = mr
        self.memory = memory
        self.protectionDomain = protectionDomain
        self.length = length
    }

    deinit {
        ibv_dereg_mr(pointer)
        memory.deallocate()
    }

    /// The key local work requests use to name this region.
    public var localKey: UInt32 { pointer.pointee.lkey }
    /// The key a peer needs to RDMA-read or -write this region.
    public var remoteKey: UInt32 { pointer.pointee.rkey }
    /// The region's start address as the NIC sees it (for a peer's RDMA operations).
    public var address: UInt64 { UInt64(UInt(bitPattern: memory)) }

    /// Gives `body` the region's bytes. Do not change them while an operation on them
    /// is outstanding.
    public func withUnsafeMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: memory, count: length))
    }
}

extension MemoryRegion {
    /// Reads byte `offset` afresh from memory on every call (a volatile load), for
    /// polling a byte the peer's NIC writes.
    public func loadVolatileByte(at offset: Int) -> UInt8 {
        precondition(offset >= 0 && offset < length, "offset \(offset) outside the \(length)-byte region")
        return cibv_load_volatile_u8(memory + offset)
    }

    /// Stores `value` at byte `offset` (before posting a write that carries it).
    public func storeByte(_ value: UInt8, at offset: Int) {
        precondition(offset >= 0 && offset < length, "offset \(offset) outside the \(length)-byte region")
        memory.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }
}
