import CIBVerbs
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error returned by a verbs call, or found by the bindings before a call was made.
public struct VerbsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is. New codes can be added without breaking users.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case errno(Int32)
            case deviceNotFound(String)
            case invalidArgument(String)
            case completionFailed(String)
        }
        let storage: Storage
        init(_ storage: Storage) { self.storage = storage }

        /// The call failed with this `errno` value.
        public static func errno(_ value: Int32) -> Code { Code(.errno(value)) }
        /// No device of this name is in libibverbs' device list.
        public static func deviceNotFound(_ name: String) -> Code { Code(.deviceNotFound(name)) }
        /// An argument the bindings refused before calling C (the text says which).
        public static func invalidArgument(_ what: String) -> Code { Code(.invalidArgument(what)) }
        /// A work request completed with an error status (the text names the status).
        public static func completionFailed(_ what: String) -> Code { Code(.completionFailed(what)) }

        /// The `errno` value, when the failure came with one.
        public var errnoValue: Int32? {
            if case .errno(let value) = storage { return value }
            return nil
        }

        public var description: String {
            switch storage {
            case .errno(let value): return "\(VerbsError.errnoName(value)) (\(VerbsError.errnoText(value)))"
            case .deviceNotFound(let name): return "no RDMA device named \(name)"
            case .invalidArgument(let what): return "invalid argument: \(what)"
            case .completionFailed(let what): return "completion with error: \(what)"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// The C function that failed, e.g. "ibv_query_port".
    public let function: String

    public init(_ code: Code, function: String) {
        self.code = code
        self.function = function
    }

    /// True when libibverbs answered that the kernel has no verbs support at all
    /// (`ibv_get_device_list` fails with ENOSYS: no `/sys/class/infiniband_verbs`, i.e.
    /// ib_uverbs is not loaded or there is no RDMA hardware). That is a "no devices"
    /// answer, not a malfunction.
    public var isNoKernelSupport: Bool { code.errnoValue == ENOSYS }

    public var description: String {
        var text = "\(function) failed: \(code)"
        switch code.errnoValue {
        case ENOSYS?: text += "; the kernel offers no RDMA verbs (no RDMA hardware, or ib_uverbs not loaded)"
        case EACCES?, EPERM?: text += "; no permission to open the device node (check /dev/infiniband permissions)"
        case ENOMEM?: text += "; out of memory or past the memlock limit (raise `ulimit -l`)"
        default: break
        }
        return text
    }

    /// The error for a C call that returned NULL or -1 and set `errno`.
    public static func fromErrno(_ function: String) -> VerbsError {
        let value = cibv_errno()
        return VerbsError(.errno(value == 0 ? EIO : value), function: function)
    }

    /// Checks a verbs return code. libibverbs returns 0 on success and either a
    /// positive errno value or -1 with `errno` set on failure; both become a `VerbsError`
    /// naming `function`.
    @inline(__always)
    public static func check(_ rc: Int32, _ function: String) throws(VerbsError) {
        if rc == 0 { return }
        if rc > 0 { throw VerbsError(.errno(rc), function: function) }
        throw fromErrno(function)
    }

    static func errnoText(_ value: Int32) -> String {
        guard let text = strerror(value) else { return "errno \(value)" }
        return String(cString: text)
    }

    static func errnoName(_ value: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EIO: "EIO", ENXIO: "ENXIO", ENOMEM: "ENOMEM",
            EACCES: "EACCES", EBUSY: "EBUSY", ENODEV: "ENODEV", EINVAL: "EINVAL",
            ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP", EAGAIN: "EAGAIN", EFAULT: "EFAULT",
        ]
        return names[value] ?? "errno \(value)"
    }
}
