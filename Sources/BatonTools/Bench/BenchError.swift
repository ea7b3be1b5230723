import BatonSupport

/// Why a benchmark could not run as asked (`CodedError`, with the benchmarks' own codes).
/// The message says what to change.
public typealias BenchError = CodedError

extension CodedError.Code {
    /// An option value that cannot be used (a size, count or threshold).
    public static let badOption = CodedError.Code(name: "bad option", exitCode: ExitCodes.badInput)
    /// The job has the wrong shape for the suite (for example one rank for a ping-pong).
    static let wrongWorld = CodedError.Code(name: "wrong world", exitCode: ExitCodes.badInput)
    /// An MPI or verbs call failed while measuring.
    static let callFailed = CodedError.Code(name: "call failed", exitCode: ExitCodes.jobFailed)
}
