import CMPI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread support level of an MPI library (MPI-3.1 section 12.4.3).
public enum ThreadLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case single, funneled, serialized, multiple

    @usableFromInline var raw: Int32 {
        switch self {
        case .single: return cmpi_thread_single()
        case .funneled: return cmpi_thread_funneled()
        case .serialized: return cmpi_thread_serialized()
        case .multiple: return cmpi_thread_multiple()
        }
    }

    init(raw: Int32) {
        self = ThreadLevel.allCases.first { $0.raw == raw } ?? .single
    }

    public static func < (a: ThreadLevel, b: ThreadLevel) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .single: return "MPI_THREAD_SINGLE"
        case .funneled: return "MPI_THREAD_FUNNELED"
        case .serialized: return "MPI_THREAD_SERIALIZED"
        case .multiple: return "MPI_THREAD_MULTIPLE"
        }
    }
}

/// Process-wide MPI state: start-up, shut-down and facts about the library.
public enum MPIEnvironment {
    /// Starts MPI, asking for `requested` thread support, and returns the level the
    /// library provides (which may be lower). Works under mpirun and, as a singleton
    /// (one rank), when the process was started without it. Sets `MPI_ERRORS_RETURN` on
    /// the world and self communicators, so failures come back as `MPIError`.
    ///
    /// The corresponding MPI function is `MPI_Init_thread`.
    @discardableResult
    public static func initialize(requesting requested: ThreadLevel = .single) throws(MPIError) -> ThreadLevel {
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, requested.raw, &provided), "MPI_Init_thread")
        try check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_set_errhandler(cmpi_comm_self(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        return ThreadLevel(raw: provided)
    }

    /// Shuts MPI down. Communicators must not be used afterwards.
    ///
    /// The corresponding MPI function is `MPI_Finalize`.
    public static func finalize() throws(MPIError) {
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    /// The thread level in force (`MPI_Query_thread`).
    public static var threadLevel: ThreadLevel {
        var provided: Int32 = 0
        guard isInitialized, MPI_Query_thread(&provided) == 0 else { return .single }
        return ThreadLevel(raw: provided)
    }

    /// Whether `MPI_Init` has been called (`MPI_Initialized`).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// Whether `MPI_Finalize` has been called (`MPI_Finalized`).
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// Whether a launcher (mpirun, or a resource manager) started this process, as
    /// opposed to a singleton start. Read from the launcher's environment.
    public static var startedByLauncher: Bool {
        for name in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"] where getenv(name) != nil { return true }
        return false
    }

    /// The library's own version string, e.g. "Open MPI v4.1.4, ...". May be called
    /// before `initialize`.
    ///
    /// The corresponding MPI function is `MPI_Get_library_version`.
    public static var libraryVersion: String {
        var chars = [CChar](repeating: 0, count: Int(cmpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        guard MPI_Get_library_version(&chars, &length) == 0 else { return "unknown" }
        return string(chars, length).trimmingTrailingWhitespace
    }

    /// The MPI standard version the library implements, e.g. (3, 1).
    public static var standardVersion: (major: Int, minor: Int) {
        var major: Int32 = 0, minor: Int32 = 0
        MPI_Get_version(&major, &minor)
        return (Int(major), Int(minor))
    }

    /// This processor's name (usually the host name).
    ///
    /// The corresponding MPI function is `MPI_Get_processor_name`.
    public static func processorName() throws(MPIError) -> String {
        var chars = [CChar](repeating: 0, count: Int(cmpi_max_processor_name()) + 1)
        var length: Int32 = 0
        try check(MPI_Get_processor_name(&chars, &length), "MPI_Get_processor_name")
        return string(chars, length)
    }

    /// Seconds since an arbitrary time in the past, for timing (`MPI_Wtime`).
    @inlinable public static func wallTime() -> Double { MPI_Wtime() }

    static func string(_ chars: [CChar], _ length: Int32) -> String {
        String(decoding: chars.prefix(Int(max(0, length))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace || last == "\0" { s = s.dropLast() }
        return String(s)
    }
}
