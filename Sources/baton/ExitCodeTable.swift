import ArgumentParser
import BatonProtocol
import BatonSupport
import BatonSystem
import BatonTrainer
import Foundation
import MPI

// The errors of the layers under BatonSupport adopt the error protocol here: those layers are
// FoundationEssentials-only and linked by the lean per-rank wrapper, which prints none of
// Baton's exit codes; so does the MPI binding's, which knows nothing of Baton. Every other
// module's errors adopt it where they are declared.
extension HostListError: BatonError {
    public var exitCode: Int32 { ExitCodes.badInput }
}

extension ShardError: BatonError {
    public var exitCode: Int32 { ExitCodes.badInput }
}

extension SpawnError: BatonError {
    public var exitCode: Int32 { ExitCodes.unavailable }
}

/// An MPI call failed (`selftest`; `bench` says so on rank 0 alone).
extension MPIError: BatonError {
    public var exitCode: Int32 { ExitCodes.jobFailed }
}

/// A command whose errors read "baton grid: ..." rather than its own name ("baton run: ...").
protocol MessagePrefixed {
    static var messagePrefix: String { get }
}

extension ExitCodes {
    /// The one place an error becomes `baton`'s exit code: its own for a `BatonError`, and
    /// `internalError` for any other (never the parser's fallback 1, "a check failed").
    static func code(for error: any Error) -> Int32 {
        (error as? any BatonError)?.exitCode ?? internalError
    }

    /// What `main` prints for `error` ("baton grid: message"), or nil when there is nothing to say.
    static func message(for error: any Error, command: ParsableCommand.Type) -> String? {
        let prefix = (command as? MessagePrefixed.Type)?.messagePrefix ?? "baton \(command.configuration.commandName ?? "")"
        if let e = error as? any BatonError { return e.userMessage.map { "\(prefix): \($0)" } }
        return "\(prefix): internal error: \(error)"
    }

    /// Whether the parser made `error` (help, a usage mistake, an explicit `ExitCode` such as
    /// `baton exec`'s command's): some of its types are internal to it (`baton help`'s).
    static func isParsers(_ error: any Error) -> Bool {
        error is ExitCode || error is CleanExit || error is ValidationError
            || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }

    /// Ends the process for an error a command threw: the parser's own as the parser does,
    /// any other through the table above.
    static func exit(for error: any Error, command: ParsableCommand.Type) -> Never {
        if isParsers(error) { Baton.exit(withError: error) }
        if let text = message(for: error, command: command) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        Foundation.exit(code(for: error))
    }
}
