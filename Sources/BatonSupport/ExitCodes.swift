/// The version `baton --version` prints.
public enum BatonVersion {
    public static let string = "0.1.0"
}

/// Exit codes of `baton` itself. Documented in the README; stable across releases.
public enum ExitCodes {
    /// Everything asked for worked (all checks passed, the job completed).
    public static let success: Int32 = 0
    /// A check failed: a selftest row, a doctor check, a benchmark gate, a wrong result.
    public static let checkFailed: Int32 = 1
    /// Bad input: a file, spec or argument that cannot be used (the message gives
    /// file, line and column where there is one). Nothing was started.
    public static let badInput: Int32 = 2
    /// The hardware or software asked for is not here (no RDMA device for `bench rdma`).
    public static let unavailable: Int32 = 3
    /// The job failed: a rank exited non-zero, or nodes were lost and no restart was left.
    public static let jobFailed: Int32 = 4
    /// Command-line usage error (swift-argument-parser's EX_USAGE).
    public static let usage: Int32 = 64
    /// Data that should be intact is not: a snapshot file differs from its manifest
    /// (sysexits' EX_DATAERR). Nothing was restored.
    public static let dataError: Int32 = 65
    /// A file could not be read or written (sysexits' EX_IOERR): a full or read-only disk.
    public static let ioError: Int32 = 74
    /// An error Baton did not expect (a bug: please report it with the message), sysexits'
    /// EX_SOFTWARE. Never the parser's fallback 1, which would read as "a check failed".
    public static let internalError: Int32 = 70
    /// Interrupted by SIGINT (128 + 2).
    public static let interrupted: Int32 = 130

    /// Every code `baton` exits with (but `baton exec`, which exits with its command's) and
    /// its meaning, as the README's table has them.
    static let documented: [(code: Int32, meaning: String)] = [
        (success, "success"), (checkFailed, "a check failed"), (badInput, "bad input (nothing started)"),
        (unavailable, "hardware/software not available"), (jobFailed, "job failed"), (usage, "usage error"),
        (dataError, "a snapshot does not match its manifest"), (internalError, "internal error (a bug)"),
        (ioError, "a file could not be read or written"), (interrupted, "interrupted"),
    ]

    public static let summary =
        documented.map { "\($0.code) \($0.meaning)" }.joined(separator: "; ")
        + ". `baton exec` exits with its command's code (128+signal when killed)."
}
