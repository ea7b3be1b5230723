import CMPI

extension Communicator {
    /// Blocks until every rank has called it.
    ///
    /// The corresponding MPI function is `MPI_Barrier`.
    @inlinable
    public func barrier() throws(MPIError) {
        try check(MPI_Barrier(handle), "MPI_Barrier")
    }

    /// Starts a barrier and returns at once: the request completes once every rank has
    /// called it. It holds no buffer.
    ///
    /// The corresponding MPI function is `MPI_Ibarrier`.
    @inlinable
    public func ibarrier() throws(MPIError) -> Request {
        var request: MPI_Request? = cmpi_request_null()
        try check(MPI_Ibarrier(handle, &request), "MPI_Ibarrier")
        return Request(handle: request, keepAlive: nil, elementSize: 1)
    }

    /// Copies `root`'s buffer to every rank's buffer (all the same count).
    ///
    /// The corresponding MPI function is `MPI_Bcast`.
    @inlinable
    public func broadcast<B: MPIMutableBuffer>(_ buffer: inout B, root: Int) throws(MPIError) {
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let n = try mpiCount(p.count, "MPI_Bcast")
            try check(MPI_Bcast(p.mpiAddress, n, B.Element.mpiDatatype.raw, Int32(clamping: root), handle), "MPI_Bcast")
        }
    }

    /// Combines every rank's `sendBuffer` element-wise with `op` into `root`'s
    /// `receiveBuffer` (same count as the send buffer at the root; ignored elsewhere).
    ///
    /// The corresponding MPI function is `MPI_Reduce`.
    @inlinable
    public func reduce<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, op: ReductionOp, root: Int
    ) throws(MPIError) where S.Element == R.Element {
        let isRoot = rank == root
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                if isRoot, r.count != s.count {
                    throw .invalid("MPI_Reduce", "receive buffer has \(r.count) elements at the root, send buffer \(s.count)")
                }
                let n = try mpiCount(s.count, "MPI_Reduce")
                try check(
                    MPI_Reduce(s.mpiAddress, r.mpiAddress, n, S.Element.mpiDatatype.raw, op.raw, Int32(clamping: root), handle),
                    "MPI_Reduce")
            }
        }
    }

    /// In-place reduce: at the root `buffer` is both input and result; elsewhere it is
    /// only read.
    ///
    /// The corresponding MPI function is `MPI_Reduce` with `MPI_IN_PLACE`.
    @inlinable
    public func reduce<B: MPIMutableBuffer>(_ buffer: inout B, op: ReductionOp, root: Int) throws(MPIError) {
        let isRoot = rank == root
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let n = try mpiCount(p.count, "MPI_Reduce")
            let rc =
                isRoot
                ? MPI_Reduce(cmpi_in_place(), p.mpiAddress, n, B.Element.mpiDatatype.raw, op.raw, Int32(clamping: root), handle)
                : MPI_Reduce(p.mpiAddress, nil, n, B.Element.mpiDatatype.raw, op.raw, Int32(clamping: root), handle)
            try check(rc, "MPI_Reduce")
        }
    }

    /// Combines every rank's `sendBuffer` element-wise with `op`; every rank gets the
    /// result in `receiveBuffer` (same count).
    ///
    /// The corresponding MPI function is `MPI_Allreduce`.
    @inlinable
    public func allReduce<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, op: ReductionOp
    ) throws(MPIError) where S.Element == R.Element {
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                guard r.count == s.count else {
                    throw .invalid("MPI_Allreduce", "receive buffer has \(r.count) elements, send buffer \(s.count)")
                }
                let n = try mpiCount(s.count, "MPI_Allreduce")
                try check(MPI_Allreduce(s.mpiAddress, r.mpiAddress, n, S.Element.mpiDatatype.raw, op.raw, handle), "MPI_Allreduce")
            }
        }
    }

    /// In-place allreduce: `buffer` is replaced by the element-wise reduction over ranks.
    ///
    /// The corresponding MPI function is `MPI_Allreduce` with `MPI_IN_PLACE`.
    @inlinable
    public func allReduce<B: MPIMutableBuffer>(_ buffer: inout B, op: ReductionOp) throws(MPIError) {
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let n = try mpiCount(p.count, "MPI_Allreduce")
            try check(MPI_Allreduce(cmpi_in_place(), p.mpiAddress, n, B.Element.mpiDatatype.raw, op.raw, handle), "MPI_Allreduce")
        }
    }

    /// Reduces one value across ranks and returns the result on every rank.
    @inlinable
    public func allReduce<T: MPIScalar>(_ value: T, op: ReductionOp) throws(MPIError) -> T {
        var v = [value]
        try allReduce(&v, op: op)
        return v[0]
    }

    /// Collects every rank's `sendBuffer` (all the same count) at `root`, in rank order;
    /// `receiveBuffer` needs size x count elements at the root and is ignored elsewhere.
    ///
    /// The corresponding MPI function is `MPI_Gather`.
    @inlinable
    public func gather<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, root: Int
    ) throws(MPIError) where S.Element == R.Element {
        let isRoot = rank == root
        let ranks = size
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                let n = try mpiCount(s.count, "MPI_Gather")
                if isRoot {
                    guard r.count == s.count * ranks else {
                        throw .invalid("MPI_Gather", "receive buffer at the root has \(r.count) elements, needs \(ranks) x \(s.count)")
                    }
                    _ = try mpiCount(r.count, "MPI_Gather")
                }
                let dt = S.Element.mpiDatatype.raw
                try check(MPI_Gather(s.mpiAddress, n, dt, r.mpiAddress, n, dt, Int32(clamping: root), handle), "MPI_Gather")
            }
        }
    }

    /// Hands rank i the i-th block of `root`'s `sendBuffer`; each block has the receive
    /// buffer's count. `sendBuffer` is read only at the root.
    ///
    /// The corresponding MPI function is `MPI_Scatter`.
    @inlinable
    public func scatter<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, root: Int
    ) throws(MPIError) where S.Element == R.Element {
        let isRoot = rank == root
        let ranks = size
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                let n = try mpiCount(r.count, "MPI_Scatter")
                if isRoot {
                    guard s.count == r.count * ranks else {
                        throw .invalid("MPI_Scatter", "send buffer at the root has \(s.count) elements, needs \(ranks) x \(r.count)")
                    }
                    _ = try mpiCount(s.count, "MPI_Scatter")
                }
                let dt = S.Element.mpiDatatype.raw
                try check(MPI_Scatter(s.mpiAddress, n, dt, r.mpiAddress, n, dt, Int32(clamping: root), handle), "MPI_Scatter")
            }
        }
    }

    /// Every rank gets every rank's `sendBuffer`, in rank order; `receiveBuffer` has
    /// size x count elements.
    ///
    /// The corresponding MPI function is `MPI_Allgather`.
    @inlinable
    public func allGather<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R
    ) throws(MPIError) where S.Element == R.Element {
        let ranks = size
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                guard r.count == s.count * ranks else {
                    throw .invalid("MPI_Allgather", "receive buffer has \(r.count) elements, needs \(ranks) x \(s.count)")
                }
                let n = try mpiCount(s.count, "MPI_Allgather")
                _ = try mpiCount(r.count, "MPI_Allgather")
                let dt = S.Element.mpiDatatype.raw
                try check(MPI_Allgather(s.mpiAddress, n, dt, r.mpiAddress, n, dt, handle), "MPI_Allgather")
            }
        }
    }

    /// Every rank gets every rank's `sendBuffer`, whose counts may differ: `counts[i]` is
    /// rank i's count, and rank i's elements land after those of ranks 0 ..< i.
    ///
    /// The corresponding MPI function is `MPI_Allgatherv`.
    @inlinable
    public func allGatherV<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, counts: [Int]
    ) throws(MPIError) where S.Element == R.Element {
        let ranks = size
        let me = rank
        guard counts.count == ranks else {
            throw .invalid("MPI_Allgatherv", "counts has \(counts.count) entries for \(ranks) ranks")
        }
        var counts32 = [Int32](repeating: 0, count: ranks)
        var displacements = [Int32](repeating: 0, count: ranks)
        var total = 0
        for i in 0..<ranks {
            guard counts[i] >= 0 else { throw .invalid("MPI_Allgatherv", "counts[\(i)] is negative") }
            counts32[i] = try mpiCount(counts[i], "MPI_Allgatherv")
            displacements[i] = try mpiCount(total, "MPI_Allgatherv")
            total += counts[i]
        }
        let total_ = total
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                guard s.count == counts[me] else {
                    throw .invalid("MPI_Allgatherv", "send buffer has \(s.count) elements, counts[\(me)] says \(counts[me])")
                }
                guard r.count == total_ else {
                    throw .invalid("MPI_Allgatherv", "receive buffer has \(r.count) elements, counts add up to \(total_)")
                }
                let dt = S.Element.mpiDatatype.raw
                try check(
                    MPI_Allgatherv(s.mpiAddress, counts32[me], dt, r.mpiAddress, counts32, displacements, dt, handle),
                    "MPI_Allgatherv")
            }
        }
    }

    /// Reduces `sendBuffer` (size x count elements) element-wise across ranks and hands
    /// rank i the i-th block of count elements of the result.
    ///
    /// The corresponding MPI function is `MPI_Reduce_scatter_block`.
    @inlinable
    public func reduceScatterBlock<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R, op: ReductionOp
    ) throws(MPIError) where S.Element == R.Element {
        let ranks = size
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                guard s.count == r.count * ranks else {
                    throw .invalid("MPI_Reduce_scatter_block", "send buffer has \(s.count) elements, needs \(ranks) x \(r.count)")
                }
                _ = try mpiCount(s.count, "MPI_Reduce_scatter_block")
                let n = try mpiCount(r.count, "MPI_Reduce_scatter_block")
                try check(
                    MPI_Reduce_scatter_block(s.mpiAddress, r.mpiAddress, n, S.Element.mpiDatatype.raw, op.raw, handle),
                    "MPI_Reduce_scatter_block")
            }
        }
    }

    /// Rank i sends the j-th block of its `sendBuffer` to rank j, which stores it as its
    /// i-th block. Both buffers have size x block elements.
    ///
    /// The corresponding MPI function is `MPI_Alltoall`.
    @inlinable
    public func allToAll<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, into receiveBuffer: inout R
    ) throws(MPIError) where S.Element == R.Element {
        let ranks = size
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                guard s.count == r.count, s.count % ranks == 0 else {
                    throw .invalid("MPI_Alltoall", "send and receive buffers need the same count, a multiple of \(ranks); got \(s.count) and \(r.count)")
                }
                _ = try mpiCount(s.count, "MPI_Alltoall")
                let block = Int32(s.count / ranks)
                let dt = S.Element.mpiDatatype.raw
                try check(MPI_Alltoall(s.mpiAddress, block, dt, r.mpiAddress, block, dt, handle), "MPI_Alltoall")
            }
        }
    }
}
