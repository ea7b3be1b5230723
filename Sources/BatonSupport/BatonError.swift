/// An error that reaches the user of `baton`: it carries the exit code it ends the command
/// with and the sentence the user reads. `baton`'s `main` turns one into
/// "baton COMMAND: message" on stderr and its exit code, in one place; an error that does not
/// conform ends the command with `ExitCodes.internalError`, never swift-argument-parser's
/// fallback 1 (which means "a check failed" in Baton's table).
public protocol BatonError: Error, CustomStringConvertible {
    /// One of the documented codes (`ExitCodes.documented`).
    var exitCode: Int32 { get }
    /// What the user reads after "baton COMMAND: "; nil when the command has printed all there
    /// is to say (a report, a table of checks) and only the exit code is left.
    var userMessage: String? { get }
}

extension BatonError {
    public var userMessage: String? { description }
}

/// A command's outcome that is not one module's error: a check that failed after its table
/// was printed, a job that ended badly after its report, an interrupt, a usage mistake the
/// parser cannot see.
public struct CommandFailure: BatonError, Sendable, Equatable {
    public var exitCode: Int32
    public var userMessage: String?

    public init(_ exitCode: Int32, _ message: String? = nil) {
        self.exitCode = exitCode
        self.userMessage = message
    }

    /// A check failed (a selftest row, a doctor check, a benchmark gate); the table said which.
    public static let checkFailed = CommandFailure(ExitCodes.checkFailed)
    /// The job or grid ended badly; its report said how.
    public static let jobFailed = CommandFailure(ExitCodes.jobFailed)
    /// Stopped by SIGINT/SIGTERM.
    public static let interrupted = CommandFailure(ExitCodes.interrupted)

    static func usage(_ message: String) -> CommandFailure { CommandFailure(ExitCodes.usage, message) }

    public var description: String { userMessage ?? "exit \(exitCode)" }
}
