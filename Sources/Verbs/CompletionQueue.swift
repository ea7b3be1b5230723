import CIBVerbs

/// A completion queue, polled (never armed for events). Destroyed in `deinit`.
public final class CompletionQueue: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_cq>
    /// The device context this queue belongs to.
    public let context: Context
    /// Completions fetched by one poll; reused so polling allocates nothing.
    private let batch: UnsafeMutablePointer<ibv_wc>
    static let batchSize = 16

    /// Creates a queue with room for at least `depth` completions.
    ///
    /// The corresponding verbs function is `ibv_create_cq`.
    public init(context: Context, depth: Int) throws(VerbsError) {
        guard let cqe = Int32(exactly: depth), cqe >= 1 else {
            throw VerbsError(.invalidArgument("completion queue depth \(depth) is not in 1...\(Int32.max)"), function: "ibv_create_cq")
        }
        cibv_clear_errno()
        guard let cq = ibv_create_cq(context.pointer, cqe, nil, nil, 0) else { throw VerbsError.fromErrno("ibv_create_cq") }
        self.pointer = cq
        self.context = context
        self.batch = .allocate(capacity: Self.batchSize)
    }

    deinit {
        ibv_destroy_cq(pointer)
        batch.deallocate()
    }

    /// Takes up to 16 completions off the queue without waiting and returns how many
    /// there were. A completion with an error status is thrown, naming the status
    /// (`ibv_wc_status_str`) and the work request id.
    ///
    /// The corresponding verbs function is `ibv_poll_cq` (static inline in verbs.h,
    /// called through the `cibv_poll_cq` shim).
    @discardableResult
    public func poll() throws(VerbsError) -> Int {
        let n = cibv_poll_cq(pointer, Int32(Self.batchSize), batch)
        if n < 0 { throw VerbsError(.errno(-n > 0 ? -n : 5), function: "ibv_poll_cq") }
        for i in 0..<Int(n) where batch[i].status != IBV_WC_SUCCESS {
            let status = batch[i].status
            let text = ibv_wc_status_str(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
            throw VerbsError(.completionFailed("work request \(batch[i].wr_id): \(text)"), function: "ibv_poll_cq")
        }
        return Int(n)
    }

    /// Polls until `count` completions have arrived (busy-waiting, as perftest does).
    public func wait(for count: Int) throws(VerbsError) {
        var seen = 0
        while seen < count { seen += try poll() }
    }
}
