import CMPI

/// An error returned by an MPI call, or found by the bindings before a call was made.
///
/// Every communicator the bindings hand out has `MPI_ERRORS_RETURN` set, so a failing
/// call comes back here instead of aborting the process.
public struct MPIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is. New codes can be added without breaking users.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        @usableFromInline enum Storage: Hashable, Sendable {
            case mpi(Int32)
            case countOverflow
            case invalidArgument
            case notInitialized
        }
        @usableFromInline let storage: Storage
        @usableFromInline init(_ storage: Storage) { self.storage = storage }

        /// An error class reported by the MPI library (`MPI_Error_class`).
        public static func mpiClass(_ errorClass: Int32) -> Code { Code(.mpi(errorClass)) }
        /// An element count does not fit MPI's `int` count and the call cannot be chunked.
        public static let countOverflow = Code(.countOverflow)
        /// Buffers or arguments disagree (for example a receive buffer of the wrong size);
        /// found by the bindings before MPI was called.
        public static let invalidArgument = Code(.invalidArgument)
        /// MPI was used before `MPIEnvironment.initialize` or after `finalize`.
        public static let notInitialized = Code(.notInitialized)

        // MPI-3.1 error classes (section 8.4), the same numbers in every implementation's mpi.h.
        public static let buffer = mpiClass(1)
        public static let count = mpiClass(2)
        public static let type = mpiClass(3)
        public static let tag = mpiClass(4)
        public static let comm = mpiClass(5)
        public static let rank = mpiClass(6)
        public static let request = mpiClass(7)
        public static let root = mpiClass(8)
        public static let op = mpiClass(10)
        public static let arg = mpiClass(12)
        public static let truncate = mpiClass(15)

        /// The MPI error class, when the error came from the MPI library.
        public var mpiErrorClass: Int32? {
            if case .mpi(let c) = storage { return c }
            return nil
        }

        public var description: String {
            switch storage {
            case .mpi(let c): return "MPI error class \(c)"
            case .countOverflow: return "count overflow"
            case .invalidArgument: return "invalid argument"
            case .notInitialized: return "MPI not initialized"
            }
        }
    }

    public let code: Code
    /// The MPI function that failed, or that would have been called.
    public let function: String
    /// The MPI library's error string, or the bindings' explanation.
    public let message: String

    public init(code: Code, function: String, message: String) {
        self.code = code
        self.function = function
        self.message = message
    }

    public var description: String { "\(function) failed: \(message)" }

    /// Builds the error for a non-success return code, asking the library for its class
    /// and string (`MPI_Error_class`, `MPI_Error_string`).
    @usableFromInline
    init(returnCode: Int32, function: StaticString) {
        var errorClass: Int32 = 0
        if MPI_Error_class(returnCode, &errorClass) != 0 { errorClass = returnCode }
        var length: Int32 = 0
        var chars = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        let message: String
        if MPI_Error_string(returnCode, &chars, &length) == 0 {
            message = String(decoding: chars.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        } else {
            message = "unknown MPI error code \(returnCode)"
        }
        self.init(code: .mpiClass(errorClass), function: "\(function)", message: message)
    }
}

/// Turns an MPI return code into a thrown `MPIError` naming the function.
@inlinable @inline(__always)
func check(_ returnCode: Int32, _ function: StaticString) throws(MPIError) {
    if _slowPath(returnCode != 0) { throw MPIError(returnCode: returnCode, function: function) }
}

/// Converts an element count to MPI's `int`, refusing counts above `Int32.max`.
@inlinable @inline(__always)
func mpiCount(_ count: Int, _ function: StaticString) throws(MPIError) -> Int32 {
    guard _fastPath(count <= Int(Int32.max)) else { throw MPIError.countTooLarge(count, function) }
    return Int32(truncatingIfNeeded: count)
}

/// The per-rank block count of a buffer split evenly over `ranks`, refusing a buffer
/// that does not divide or whose total count does not fit MPI's `int`.
@inlinable
func blockCount(_ count: Int, over ranks: Int, _ function: StaticString) throws(MPIError) -> Int32 {
    guard count % ranks == 0 else {
        throw .invalid(function, "buffer has \(count) elements, not a multiple of \(ranks) ranks")
    }
    _ = try mpiCount(count, function)
    return Int32(count / ranks)
}

extension MPIError {
    @usableFromInline
    static func countTooLarge(_ count: Int, _ function: StaticString) -> MPIError {
        MPIError(
            code: .countOverflow, function: "\(function)",
            message: "element count \(count) exceeds MPI's int count limit \(Int32.max); "
                + "split the buffer or use a larger datatype")
    }

    @usableFromInline
    static func invalid(_ function: StaticString, _ message: String) -> MPIError {
        MPIError(code: .invalidArgument, function: "\(function)", message: message)
    }
}
