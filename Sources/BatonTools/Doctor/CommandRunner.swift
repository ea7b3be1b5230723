import BatonSystem
import Foundation

/// The result of running a program.
public struct CommandResult: Sendable, Equatable {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    init(status: Int32, stdout: String, stderr: String = "", timedOut: Bool = false) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.timedOut = timedOut
    }
}

/// Runs programs from an argv array (never through a shell). Tests substitute a fake.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String], timeout: Double) throws -> CommandResult
}

/// The real runner: Baton's one subprocess type (`ChildProcess.run`), argv never through a
/// shell, stdin from /dev/null, terminated (TERM, 2 s, KILL) when `timeout` passes.
public struct ProcessRunner: CommandRunner {
    public init() {}

    public func run(_ argv: [String], timeout: Double) throws -> CommandResult {
        let out = try ChildProcess.run(argv, environment: ProcessInfo.processInfo.environment, timeout: timeout)
        return CommandResult(status: out.status.code, stdout: out.stdout, stderr: out.stderr, timedOut: out.timedOut)
    }

    /// The first executable called `name` in the `PATH` of `environment`.
    public static func which(_ name: String, environment: [String: String]) -> String? {
        guard !name.contains("/") else { return nil }
        return ChildProcess.resolve(name, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
    }
}
