import BatonSupport
/// Why a benchmark could not run as asked. The description says what to change.
public struct BenchError: BatonError, Sendable, Equatable {
    public struct Code: Hashable, Sendable {
        let name: String
        /// An option value that cannot be used (a size, count or threshold).
        public static let badOption = Code(name: "badOption")
        /// The job has the wrong shape for the suite (for example one rank for a ping-pong).
        static let wrongWorld = Code(name: "wrongWorld")
        /// The hardware or library the suite needs is not here.
        static let unavailable = Code(name: "unavailable")
        /// An MPI or verbs call failed while measuring.
        static let callFailed = Code(name: "callFailed")
    }

    let code: Code
    let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    public var exitCode: Int32 {
        switch code {
        case .unavailable: ExitCodes.unavailable
        case .callFailed: ExitCodes.jobFailed
        default: ExitCodes.badInput
        }
    }
}
