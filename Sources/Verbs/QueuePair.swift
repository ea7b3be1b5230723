import CIBVerbs

/// The path MTU of a connection (`enum ibv_mtu`).
public enum PathMTU: Int, Sendable, CaseIterable {
    case mtu256 = 256, mtu512 = 512, mtu1024 = 1024, mtu2048 = 2048, mtu4096 = 4096

    /// From the verbs enumeration value (1 = 256 ... 5 = 4096), as ports report it.
    public init?(verbsValue: Int) {
        guard (1...5).contains(verbsValue) else { return nil }
        self = PathMTU.allCases[verbsValue - 1]
    }

    var raw: ibv_mtu { ibv_mtu(rawValue: UInt32(PathMTU.allCases.firstIndex(of: self)! + 1)) }
}

/// Where the other end of a reliable connection is: what it sent out of band.
public struct RemoteEndpoint: Sendable, Equatable {
    public var lid: UInt16
    public var queuePairNumber: UInt32
    public var packetSequenceNumber: UInt32
    /// The peer's GID; needed when the link layer is Ethernet (RoCE) or the peer is in
    /// another subnet. nil uses the LID alone (InfiniBand in one subnet).
    public var gid: GID?

    public init(lid: UInt16, queuePairNumber: UInt32, packetSequenceNumber: UInt32, gid: GID?) {
        self.lid = lid
        self.queuePairNumber = queuePairNumber
        self.packetSequenceNumber = packetSequenceNumber
        self.gid = gid
    }
}

/// A reliable-connected (RC) queue pair. Destroyed in `deinit`; keeps its domain and
/// completion queue alive.
public final class QueuePair: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_qp>
    public let protectionDomain: ProtectionDomain
    public let completionQueue: CompletionQueue

    /// Creates an RC queue pair whose sends and receives complete on `completionQueue`.
    /// Only signaled sends produce completions (`sq_sig_all` = 0).
    ///
    /// The corresponding verbs function is `ibv_create_qp`.
    public init(
        protectionDomain: ProtectionDomain, completionQueue: CompletionQueue,
        maxSendRequests: Int, maxReceiveRequests: Int, maxInlineData: Int = 0
    ) throws(VerbsError) {
        guard let s = UInt32(exactly: maxSendRequests), let r = UInt32(exactly: maxReceiveRequests),
            let inline = UInt32(exactly: maxInlineData), s >= 1, r >= 1
        else {
            throw VerbsError(.invalidArgument("queue sizes must be positive 32-bit counts"), function: "ibv_create_qp")
        }
        var attr = ibv_qp_init_attr()
        attr.send_cq = completionQueue.pointer
        attr.recv_cq = completionQueue.pointer
        attr.qp_type = IBV_QPT_RC
        attr.sq_sig_all = 0
        attr.cap.max_send_wr = s
        attr.cap.max_recv_wr = r
        attr.cap.max_send_sge = 1
        attr.cap.max_recv_sge = 1
        attr.cap.max_inline_data = inline
        cibv_clear_errno()
        guard let qp = ibv_create_qp(protectionDomain.pointer, &attr) else { throw VerbsError.fromErrno("ibv_create_qp") }
        self.pointer = qp
        self.protectionDomain = protectionDomain
        self.completionQueue = completionQueue
    }

    deinit { ibv_destroy_qp(pointer) }

    /// The queue pair number the peer connects to (24 bits).
    public var number: UInt32 { pointer.pointee.qp_num }

    /// RESET -> INIT on `port`, allowing the peer the operations in `access`.
    ///
    /// The corresponding verbs function is `ibv_modify_qp`.
    public func moveToInit(port: Int, access: AccessFlags) throws(VerbsError) {
        guard let port8 = UInt8(exactly: port), port8 >= 1 else {
            throw VerbsError(.invalidArgument("port \(port) is not in 1...255"), function: "ibv_modify_qp")
        }
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_INIT
        attr.pkey_index = 0
        attr.port_num = port8
        attr.qp_access_flags = access.rawValue
        let mask = IBV_QP_STATE.rawValue | IBV_QP_PKEY_INDEX.rawValue | IBV_QP_PORT.rawValue | IBV_QP_ACCESS_FLAGS.rawValue
        try VerbsError.check(ibv_modify_qp(pointer, &attr, Int32(bitPattern: mask)), "ibv_modify_qp")
    }

    /// INIT -> RTR (ready to receive) towards `remote`. `gidIndex` picks this port's
    /// source GID when a global route is used (RoCE). Values as perftest sets them: one
    /// outstanding read/atomic per side, minimum RNR timer 12.
    ///
    /// The corresponding verbs function is `ibv_modify_qp`.
    public func moveToReadyToReceive(remote: RemoteEndpoint, port: Int, mtu: PathMTU, gidIndex: Int = 0) throws(VerbsError) {
        guard let port8 = UInt8(exactly: port), port8 >= 1, let sgid = UInt8(exactly: gidIndex) else {
            throw VerbsError(.invalidArgument("port \(port) / GID index \(gidIndex) out of range"), function: "ibv_modify_qp")
        }
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_RTR
        attr.path_mtu = mtu.raw
        attr.dest_qp_num = remote.queuePairNumber
        attr.rq_psn = remote.packetSequenceNumber
        attr.max_dest_rd_atomic = 1
        attr.min_rnr_timer = 12
        attr.ah_attr.dlid = remote.lid
        attr.ah_attr.sl = 0
        attr.ah_attr.src_path_bits = 0
        attr.ah_attr.port_num = port8
        if let gid = remote.gid, !gid.isZero {
            attr.ah_attr.is_global = 1
            attr.ah_attr.grh.hop_limit = 1
            attr.ah_attr.grh.sgid_index = sgid
            withUnsafeMutableBytes(of: &attr.ah_attr.grh.dgid) { raw in
                for (i, b) in gid.bytes.prefix(16).enumerated() { raw[i] = b }
            }
        }
        let mask =
            IBV_QP_STATE.rawValue | IBV_QP_AV.rawValue | IBV_QP_PATH_MTU.rawValue | IBV_QP_DEST_QPN.rawValue
            | IBV_QP_RQ_PSN.rawValue | IBV_QP_MAX_DEST_RD_ATOMIC.rawValue | IBV_QP_MIN_RNR_TIMER.rawValue
        try VerbsError.check(ibv_modify_qp(pointer, &attr, Int32(bitPattern: mask)), "ibv_modify_qp")
    }

    /// RTR -> RTS (ready to send) starting at `packetSequenceNumber`; timeout 14
    /// (about 67 ms), 7 retries, infinite RNR retries, as perftest sets them.
    ///
    /// The corresponding verbs function is `ibv_modify_qp`.
    public func moveToReadyToSend(packetSequenceNumber: UInt32) throws(VerbsError) {
        var attr = ibv_qp_attr()
        attr.qp_state = IBV_QPS_RTS
        attr.sq_psn = packetSequenceNumber
        attr.timeout = 14
        attr.retry_cnt = 7
        attr.rnr_retry = 7
        attr.max_rd_atomic = 1
        let mask =
            IBV_QP_STATE.rawValue | IBV_QP_TIMEOUT.rawValue | IBV_QP_RETRY_CNT.rawValue | IBV_QP_RNR_RETRY.rawValue
            | IBV_QP_SQ_PSN.rawValue | IBV_QP_MAX_QP_RD_ATOMIC.rawValue
        try VerbsError.check(ibv_modify_qp(pointer, &attr, Int32(bitPattern: mask)), "ibv_modify_qp")
    }

    /// An operation on the send queue.
    public enum SendOperation: Sendable {
        /// Write `length` bytes of the region to the peer's `address` (needs its key).
        case write(remoteAddress: UInt64, remoteKey: UInt32)
        /// Read `length` bytes from the peer's `address` into the region.
        case read(remoteAddress: UInt64, remoteKey: UInt32)
        /// Send `length` bytes; the peer must have posted a receive.
        case send
    }

    /// Posts one work request over bytes `offset ..< offset + length` of `region`.
    /// Only `signaled` requests produce a completion.
    ///
    /// The corresponding verbs function is `ibv_post_send` (through `cibv_post_send`).
    public func postSend(
        _ operation: SendOperation, region: MemoryRegion, offset: Int = 0, length: Int, signaled: Bool, id: UInt64 = 0
    ) throws(VerbsError) {
        guard offset >= 0, length >= 0, offset + length <= region.length, let len32 = UInt32(exactly: length) else {
            throw VerbsError(.invalidArgument("bytes \(offset)..<\(offset + length) are outside the \(region.length)-byte region"), function: "ibv_post_send")
        }
        var sge = ibv_sge(addr: region.address + UInt64(offset), length: len32, lkey: region.localKey)
        var wr = ibv_send_wr()
        wr.wr_id = id
        wr.num_sge = 1
        wr.send_flags = signaled ? IBV_SEND_SIGNALED.rawValue : 0
        switch operation {
        case .write(let address, let key):
            wr.opcode = IBV_WR_RDMA_WRITE
            wr.wr.rdma.remote_addr = address
            wr.wr.rdma.rkey = key
        case .read(let address, let key):
            wr.opcode = IBV_WR_RDMA_READ
            wr.wr.rdma.remote_addr = address
            wr.wr.rdma.rkey = key
        case .send:
            wr.opcode = IBV_WR_SEND
        }
        var bad: UnsafeMutablePointer<ibv_send_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            wr.sg_list = sgePointer
            return cibv_post_send(pointer, &wr, &bad)
        }
        try VerbsError.check(rc, "ibv_post_send")
    }

    /// Posts a receive for up to `length` bytes at `offset` of `region`.
    ///
    /// The corresponding verbs function is `ibv_post_recv` (through `cibv_post_recv`).
    public func postReceive(region: MemoryRegion, offset: Int = 0, length: Int, id: UInt64 = 0) throws(VerbsError) {
        guard offset >= 0, length >= 0, offset + length <= region.length, let len32 = UInt32(exactly: length) else {
            throw VerbsError(.invalidArgument("bytes \(offset)..<\(offset + length) are outside the \(region.length)-byte region"), function: "ibv_post_recv")
        }
        var sge = ibv_sge(addr: region.address + UInt64(offset), length: len32, lkey: region.localKey)
        var wr = ibv_recv_wr()
        wr.wr_id = id
        wr.num_sge = 1
        var bad: UnsafeMutablePointer<ibv_recv_wr>?
        let rc = withUnsafeMutablePointer(to: &sge) { sgePointer in
            wr.sg_list = sgePointer
            return cibv_post_recv(pointer, &wr, &bad)
        }
        try VerbsError.check(rc, "ibv_post_recv")
    }
}
