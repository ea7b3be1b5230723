import CMPI

/// An MPI communicator: a group of ranks that talk to each other.
///
/// The world and self communicators are never freed; ones made with `duplicate` or
/// `split` are freed (`MPI_Comm_free`) when the last reference goes, unless MPI has
/// been finalized by then. Every communicator returns errors (`MPI_ERRORS_RETURN`).
public final class Communicator: @unchecked Sendable {
    // A `let`: reading a class's `var` from inlined code costs a dynamic exclusivity
    // check (swift_beginAccess/endAccess) on every MPI call, measurable on small messages.
    @usableFromInline nonisolated(unsafe) let handle: MPI_Comm?
    private let owned: Bool

    @usableFromInline init(handle: MPI_Comm?, owned: Bool) {
        self.handle = handle
        self.owned = owned
    }

    deinit {
        if owned, !MPIEnvironment.isFinalized {
            var freed = handle
            MPI_Comm_free(&freed)
        }
    }

    /// All ranks started together (`MPI_COMM_WORLD`).
    public static let world = Communicator(handle: cmpi_comm_world(), owned: false)

    /// Only this rank (`MPI_COMM_SELF`).
    public static let selfOnly = Communicator(handle: cmpi_comm_self(), owned: false)

    /// This rank's number, 0 ..< size (`MPI_Comm_rank`).
    @inlinable public var rank: Int {
        var r: Int32 = -1
        MPI_Comm_rank(handle, &r)
        return Int(r)
    }

    /// The number of ranks (`MPI_Comm_size`).
    @inlinable public var size: Int {
        var s: Int32 = 0
        MPI_Comm_size(handle, &s)
        return Int(s)
    }

    /// A new communicator with the same ranks and a separate message space.
    ///
    /// The corresponding MPI function is `MPI_Comm_dup`.
    public func duplicate() throws(MPIError) -> Communicator {
        var new: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_dup(handle, &new), "MPI_Comm_dup")
        return try Communicator.adopt(new)
    }

    /// Splits the ranks into groups of equal `color`, ordered by `key` then by old
    /// rank. A rank passing `nil` joins no group and gets `nil` back.
    ///
    /// The corresponding MPI function is `MPI_Comm_split`.
    public func split(color: Int?, key: Int = 0) throws(MPIError) -> Communicator? {
        if let color, color < 0 {
            throw .invalid("MPI_Comm_split", "color must be non-negative (nil leaves the rank out), got \(color)")
        }
        let c = try color.map { c throws(MPIError) in try mpiCount(c, "MPI_Comm_split") } ?? cmpi_undefined()
        let k = try mpiCount(key, "MPI_Comm_split")
        var new: MPI_Comm? = cmpi_comm_null()
        try check(MPI_Comm_split(handle, c, k, &new), "MPI_Comm_split")
        if new == cmpi_comm_null() { return nil }
        return try Communicator.adopt(new)
    }

    /// Splits the ranks by shared-memory node: one communicator per host, ranks ordered
    /// by `key` then by old rank.
    ///
    /// The corresponding MPI function is `MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`.
    public func splitByNode(key: Int = 0) throws(MPIError) -> Communicator {
        var new: MPI_Comm? = cmpi_comm_null()
        let k = try mpiCount(key, "MPI_Comm_split_type")
        try check(
            MPI_Comm_split_type(handle, cmpi_comm_type_shared(), k, cmpi_info_null(), &new),
            "MPI_Comm_split_type")
        return try Communicator.adopt(new)
    }

    private static func adopt(_ new: MPI_Comm?) throws(MPIError) -> Communicator {
        let comm = Communicator(handle: new, owned: true)
        try check(MPI_Comm_set_errhandler(new, cmpi_errors_return()), "MPI_Comm_set_errhandler")
        return comm
    }
}

/// The source of a receive: one rank, or any.
public enum Source: Sendable, Equatable, ExpressibleByIntegerLiteral {
    case rank(Int)
    case any
    public init(integerLiteral value: Int) { self = .rank(value) }
    @inlinable var raw: Int32 {
        switch self {
        case .rank(let r): return Int32(clamping: r)
        case .any: return cmpi_any_source()
        }
    }
}

/// The tag of a receive: one value, or any.
public enum Tag: Sendable, Equatable, ExpressibleByIntegerLiteral {
    case value(Int)
    case any
    public init(integerLiteral value: Int) { self = .value(value) }
    @inlinable var raw: Int32 {
        switch self {
        case .value(let t): return Int32(clamping: t)
        case .any: return cmpi_any_tag()
        }
    }
}

/// What a completed receive or probe found.
public struct Status: Sendable, Equatable {
    /// The rank the message came from.
    public let source: Int
    /// The message's tag.
    public let tag: Int
    /// The number of elements received, in the receive's element type.
    public let count: Int
    /// The message's size in bytes.
    public let byteCount: Int

    public init(source: Int, tag: Int, count: Int, byteCount: Int) {
        self.source = source
        self.tag = tag
        self.count = count
        self.byteCount = byteCount
    }

    @inlinable
    init(_ status: inout MPI_Status, elementSize: Int) {
        let bytes = cmpi_status_byte_count(&status)
        source = Int(cmpi_status_source(&status))
        tag = Int(cmpi_status_tag(&status))
        byteCount = Int(bytes)
        count = elementSize > 0 ? Int(bytes) / elementSize : 0
    }
}
