import CMPI

/// A pending non-blocking operation. It must be completed: it is a non-copyable value,
/// consumed by `wait` or by adding it to a `RequestGroup`; if it is dropped while still
/// pending, its deinit waits for it, so the buffer it holds is never freed under MPI.
public struct Request: ~Copyable {
    @usableFromInline var handle: MPI_Request?
    @usableFromInline var keepAlive: AnyObject?
    @usableFromInline let elementSize: Int
    @usableFromInline var completed: Status?

    @inlinable
    init(handle: MPI_Request?, keepAlive: AnyObject?, elementSize: Int) {
        self.handle = handle
        self.keepAlive = keepAlive
        self.elementSize = elementSize
        self.completed = nil
    }

    deinit {
        var pending = handle
        if pending != cmpi_request_null() {
            MPI_Wait(&pending, cmpi_status_ignore())
        }
    }

    /// Blocks until the operation completes.
    ///
    /// The corresponding MPI function is `MPI_Wait`.
    @inlinable @discardableResult
    public consuming func wait() throws(MPIError) -> Status {
        if let completed { return completed }
        var status = MPI_Status()
        try check(MPI_Wait(&handle, &status), "MPI_Wait")
        return Status(&status, elementSize: elementSize)
    }

    /// Returns the status if the operation has completed, nil if it is still pending.
    /// After it returns a status, `wait` returns the same status at once.
    ///
    /// The corresponding MPI function is `MPI_Test`.
    @inlinable
    public mutating func test() throws(MPIError) -> Status? {
        if let completed { return completed }
        var flag: Int32 = 0
        var status = MPI_Status()
        try check(MPI_Test(&handle, &flag, &status), "MPI_Test")
        guard flag != 0 else { return nil }
        let s = Status(&status, elementSize: elementSize)
        completed = s
        return s
    }

    /// Hands the handle and buffer over, leaving this request empty so its deinit is a no-op.
    @inlinable
    consuming func release() -> (MPI_Request?, AnyObject?) {
        let out = (handle, keepAlive)
        handle = cmpi_request_null()
        keepAlive = nil
        return out
    }
}

/// Requests completed together (`MPI_Waitall`), such as a window of sends. A group is
/// reusable: `waitAll` empties it and keeps its storage, so a loop allocates nothing.
public struct RequestGroup: ~Copyable {
    @usableFromInline var handles: UnsafeMutablePointer<MPI_Request?>
    @usableFromInline var capacity: Int
    @usableFromInline var count: Int = 0
    @usableFromInline var keepAlive: [AnyObject] = []

    public init(capacity: Int = 64) {
        self.capacity = Swift.max(1, capacity)
        handles = .allocate(capacity: self.capacity)
        keepAlive.reserveCapacity(self.capacity)
    }

    deinit {
        if count > 0 { MPI_Waitall(Int32(count), handles, cmpi_statuses_ignore()) }
        handles.deallocate()
    }

    /// The number of pending requests in the group.
    @inlinable public var pendingCount: Int { count }

    /// Adds a pending request to the group.
    @inlinable
    public mutating func add(_ request: consuming Request) {
        let (handle, buffer) = request.release()
        if count == capacity { grow() }
        handles[count] = handle
        count += 1
        if let buffer { keepAlive.append(buffer) }
    }

    @usableFromInline
    mutating func grow() {
        let bigger = UnsafeMutablePointer<MPI_Request?>.allocate(capacity: capacity * 2)
        bigger.update(from: handles, count: count)
        handles.deallocate()
        handles = bigger
        capacity *= 2
    }

    /// Blocks until every request in the group completes, then empties the group.
    ///
    /// The corresponding MPI function is `MPI_Waitall`.
    @inlinable
    public mutating func waitAll() throws(MPIError) {
        guard count > 0 else { return }
        let n = Int32(count)
        count = 0
        defer { keepAlive.removeAll(keepingCapacity: true) }
        try check(MPI_Waitall(n, handles, cmpi_statuses_ignore()), "MPI_Waitall")
    }
}
