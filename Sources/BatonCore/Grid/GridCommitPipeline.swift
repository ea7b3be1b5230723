import Dispatch

/// Commits one scheduler step's store changes on a thread of its own, so the scheduler can
/// poll its executor and decide the next step while SQLite writes and fsyncs this one.
///
/// What it keeps true: a step's actions (starting and stopping attempts) run only after
/// `wait()` has returned for that step's commit, so every transition is still on disk
/// before it is acted on; commits happen one at a time and in order. What it buys: at
/// 100,000 configs the store's commit was about half of the head's CPU (docs/grid.md
/// "Scale"; figures in docs/benchmarks.md), and on 2 cores the two halves now run side by side.
///
/// Only the scheduler's thread calls `begin` and `wait`. Between them the store belongs to
/// the writer's thread, and the scheduler does not touch it: that hand-over, with the
/// semaphore's ordering of memory, is why the unchecked `Sendable` is sound.
final class GridCommitPipeline: @unchecked Sendable {
    private let store: GridStore
    /// A serial queue: GCD gives it a thread of its own while it works, never the cooperative
    /// pool (the commit blocks in fsync).
    private let queue = DispatchQueue(label: "baton.grid.commit")
    private let finished = DispatchSemaphore(value: 0)
    private var error: Error?
    /// A commit was begun and `wait` has not returned for it yet.
    private(set) var inFlight = false

    init(store: GridStore) { self.store = store }

    /// Starts committing `ops` in one transaction; `wait` must be called before the next
    /// `begin` and before anything the ops record is acted on.
    func begin(_ ops: [GridStoreOp]) {
        precondition(!inFlight, "a commit is already in flight")
        inFlight = true
        queue.async { [self] in
            do { try store.commit(ops) } catch { self.error = error }
            finished.signal()
        }
    }

    /// Waits for the commit in flight, if any, and throws its error.
    func wait() throws {
        guard inFlight else { return }
        finished.wait()
        inFlight = false
        if let e = error {
            error = nil
            throw e
        }
    }
}
