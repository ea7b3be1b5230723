#if canImport(Glibc)
import Glibc
#endif

/// Progress for Baton's hang detection, the twin of `python/baton`'s `step()` and `phase()`
/// (and `shouldCheckpoint()`, Baton's request for a checkpoint):
/// one line per mark on the pipe `baton exec` gives every rank (BATON_PROGRESS_FD; the
/// `ProgressMark` lines of docs/launch.md, "Hangs"). Outside Baton (no such variable, or
/// the descriptor closed) every call does nothing. Not thread-safe: mark from the thread
/// that runs the training loop.
public enum Progress {
    /// The pipe, when this process has one (checked once).
    nonisolated(unsafe) private static var fd: Int32? = {
        guard let text = getenv("BATON_PROGRESS_FD").map({ String(cString: $0) }), let fd = Int32(text),
              fcntl(fd, F_GETFD) != -1 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)  // processes this one starts say nothing there
        write(fd, "armed \(getpid())")
        return fd
    }()
    nonisolated(unsafe) private static var last = 0

    /// A training step is done: `n`, or one more than the last. Returns the step.
    @discardableResult
    public static func step(_ n: Int? = nil) -> Int {
        last = n ?? last + 1
        if let fd { write(fd, "step \(last)") }
        return last
    }

    /// A stretch that is not a training step (an evaluation, a checkpoint save), with a
    /// budget of its own.
    public static func phase<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let word = name.split(separator: " ").joined(separator: "_")
        if let fd { write(fd, "phase \(word.isEmpty ? "phase" : word)") }
        defer { if let fd { write(fd, "phase -") } }
        return try body()
    }

    nonisolated(unsafe) private static var checkpointAnswered = false

    /// True once after Baton asked this attempt for a checkpoint (the file
    /// BATON_CHECKPOINT_REQUEST appeared: `baton launch --grow-after` restarts at the next
    /// checkpoint to grow the world), the twin of `baton.should_checkpoint()`. Checkpoint,
    /// then report `consumed`: that report is the boundary the head waits for. Ranks may see
    /// the request at different steps: where they checkpoint together, act on one rank's
    /// answer (broadcast it). False outside Baton; one `access` a call.
    public static func shouldCheckpoint() -> Bool {
        guard !checkpointAnswered, let path = getenv("BATON_CHECKPOINT_REQUEST"), access(path, F_OK) == 0 else { return false }
        checkpointAnswered = true
        return true
    }

    private static func write(_ fd: Int32, _ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }  // one short write: whole
    }
}
