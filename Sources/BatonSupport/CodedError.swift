/// Baton's one error with a code: what went wrong, in the words the user reads, and a code
/// that names the kind of failure and carries its documented exit code. Each layer names
/// its own codes (`extension CodedError.Code`) and its own alias for readability in typed
/// throws (`LaunchError`, `SnapshotError`, `BenchError`, `ContainerConfigError`); they are
/// all this type, mapped to exit codes by `BatonError` in one place, `baton`'s `main`.
public struct CodedError: BatonError, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// One of `ExitCodes.documented`.
        public let exitCode: Int32

        public init(name: String, exitCode: Int32) {
            self.name = name
            self.exitCode = exitCode
        }

        /// Bad input: nothing was started or written.
        public static let badInput = Code(name: "bad input", exitCode: ExitCodes.badInput)
        /// A program or device Baton needs is not here.
        public static let unavailable = Code(name: "unavailable", exitCode: ExitCodes.unavailable)
        /// Data that does not match what was promised (a snapshot against its manifest).
        public static let dataError = Code(name: "data error", exitCode: ExitCodes.dataError)
        /// Reading or writing a file failed (disk full, permissions).
        public static let ioError = Code(name: "i/o error", exitCode: ExitCodes.ioError)

        public var description: String { name }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    public var exitCode: Int32 { code.exitCode }
}
