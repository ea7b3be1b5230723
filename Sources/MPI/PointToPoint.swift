import CMPI

extension Communicator {
    /// Sends `buffer` to rank `destination`, blocking until the buffer can be reused.
    ///
    /// The corresponding MPI function is `MPI_Send`.
    @inlinable
    public func send<B: MPIBuffer>(_ buffer: B, to destination: Int, tag: Int = 0) throws(MPIError) {
        try buffer.withUnsafeBufferPointer { (p) throws(MPIError) in
            let n = try mpiCount(p.count, "MPI_Send")
            try check(
                MPI_Send(p.mpiAddress, n, B.Element.mpiDatatype.raw, Int32(clamping: destination), Int32(clamping: tag), handle),
                "MPI_Send")
        }
    }

    /// Receives into `buffer`, which must be large enough for the message; returns who
    /// sent it, its tag and how many elements arrived.
    ///
    /// The corresponding MPI function is `MPI_Recv`.
    @inlinable @discardableResult
    public func receive<B: MPIMutableBuffer>(into buffer: inout B, from source: Source = .any, tag: Tag = .any) throws(MPIError) -> Status {
        try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
            let n = try mpiCount(p.count, "MPI_Recv")
            var status = MPI_Status()
            try check(MPI_Recv(p.mpiAddress, n, B.Element.mpiDatatype.raw, source.raw, tag.raw, handle, &status), "MPI_Recv")
            return Status(&status, elementSize: MemoryLayout<B.Element>.stride)
        }
    }

    /// Sends one buffer and receives into another in one call, without deadlock when
    /// two ranks exchange.
    ///
    /// The corresponding MPI function is `MPI_Sendrecv`.
    @inlinable @discardableResult
    public func sendReceive<S: MPIBuffer, R: MPIMutableBuffer>(
        _ sendBuffer: S, to destination: Int, sendTag: Int = 0,
        into receiveBuffer: inout R, from source: Source = .any, receiveTag: Tag = .any
    ) throws(MPIError) -> Status {
        try sendBuffer.withUnsafeBufferPointer { (s) throws(MPIError) in
            try receiveBuffer.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
                let sn = try mpiCount(s.count, "MPI_Sendrecv")
                let rn = try mpiCount(r.count, "MPI_Sendrecv")
                var status = MPI_Status()
                try check(
                    MPI_Sendrecv(
                        s.mpiAddress, sn, S.Element.mpiDatatype.raw, Int32(clamping: destination), Int32(clamping: sendTag),
                        r.mpiAddress, rn, R.Element.mpiDatatype.raw, source.raw, receiveTag.raw, handle, &status),
                    "MPI_Sendrecv")
                return Status(&status, elementSize: MemoryLayout<R.Element>.stride)
            }
        }
    }

    /// Waits for a matching message without receiving it; the status's `count` is in
    /// elements of `type`, so the caller can size a buffer.
    ///
    /// The corresponding MPI function is `MPI_Probe`.
    @inlinable
    public func probe<T: MPIScalar>(_ type: T.Type = UInt8.self, from source: Source = .any, tag: Tag = .any) throws(MPIError) -> Status {
        var status = MPI_Status()
        try check(MPI_Probe(source.raw, tag.raw, handle, &status), "MPI_Probe")
        return Status(&status, elementSize: MemoryLayout<T>.stride)
    }

    /// Starts sending `buffer`; the returned request keeps the buffer alive until it
    /// completes. Do not change the buffer before then.
    ///
    /// The corresponding MPI function is `MPI_Isend`.
    @inlinable
    public func isend<T>(_ buffer: MessageBuffer<T>, to destination: Int, tag: Int = 0) throws(MPIError) -> Request {
        let n = try mpiCount(buffer.count, "MPI_Isend")
        var request: MPI_Request? = cmpi_request_null()
        try check(
            MPI_Isend(buffer.storage.mpiAddress, n, T.mpiDatatype.raw, Int32(clamping: destination), Int32(clamping: tag), handle, &request),
            "MPI_Isend")
        return Request(handle: request, keepAlive: buffer, elementSize: MemoryLayout<T>.stride)
    }

    /// Starts a receive into `buffer`; the returned request keeps the buffer alive until
    /// it completes. Read the buffer only after `wait` or a successful `test`.
    ///
    /// The corresponding MPI function is `MPI_Irecv`.
    @inlinable
    public func irecv<T>(into buffer: MessageBuffer<T>, from source: Source = .any, tag: Tag = .any) throws(MPIError) -> Request {
        let n = try mpiCount(buffer.count, "MPI_Irecv")
        var request: MPI_Request? = cmpi_request_null()
        try check(
            MPI_Irecv(buffer.storage.mpiAddress, n, T.mpiDatatype.raw, source.raw, tag.raw, handle, &request),
            "MPI_Irecv")
        return Request(handle: request, keepAlive: buffer, elementSize: MemoryLayout<T>.stride)
    }
}
