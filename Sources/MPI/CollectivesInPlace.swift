import CMPI

// In-place forms of the gathering and exchanging collectives (MPI-3.1 sections 5.7,
// 5.8, 5.10.1): the data goes in and comes out of one buffer, as nccl-tests' in-place
// runs and memory-tight trainers use them.
extension Communicator {
    /// In-place allgather: `buffer` has size x block elements; this rank's own block
    /// (block `rank`) is read from it, and every other block is filled in.
    ///
    /// The corresponding MPI function is `MPI_Allgather` with `MPI_IN_PLACE`.
    @inlinable
    public func allGather<B: MPIMutableBuffer>(inPlace buffer: inout B) throws(MPIError) {
        let ranks = size
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let block = try blockCount(p.count, over: ranks, "MPI_Allgather")
            let dt = B.Element.mpiDatatype.raw
            try check(MPI_Allgather(cmpi_in_place(), 0, dt, p.mpiAddress, block, dt, handle), "MPI_Allgather")
        }
    }

    /// In-place reduce-scatter: `buffer` (size x block elements) is the input; on return
    /// its first block holds this rank's block of the element-wise reduction.
    ///
    /// The corresponding MPI function is `MPI_Reduce_scatter_block` with `MPI_IN_PLACE`.
    @inlinable
    public func reduceScatterBlock<B: MPIMutableBuffer>(inPlace buffer: inout B, op: ReductionOp) throws(MPIError) {
        let ranks = size
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let block = try blockCount(p.count, over: ranks, "MPI_Reduce_scatter_block")
            try check(
                MPI_Reduce_scatter_block(cmpi_in_place(), p.mpiAddress, block, B.Element.mpiDatatype.raw, op.raw, handle),
                "MPI_Reduce_scatter_block")
        }
    }

    /// In-place all-to-all: block j of `buffer` goes to rank j and is replaced by the
    /// block rank j sent here.
    ///
    /// The corresponding MPI function is `MPI_Alltoall` with `MPI_IN_PLACE`.
    @inlinable
    public func allToAll<B: MPIMutableBuffer>(inPlace buffer: inout B) throws(MPIError) {
        let ranks = size
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let block = try blockCount(p.count, over: ranks, "MPI_Alltoall")
            let dt = B.Element.mpiDatatype.raw
            try check(MPI_Alltoall(cmpi_in_place(), 0, dt, p.mpiAddress, block, dt, handle), "MPI_Alltoall")
        }
    }
}
