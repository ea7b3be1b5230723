import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads the memlock limit, /dev/shm size and CAP_IPC_LOCK from `<proc-root>/self/...`,
/// the same facts getrlimit(2) and statvfs(2) give, so fixture trees can supply them.
struct LimitsReader {
    let roots: ProbeRoots

    func read(problems: inout [ProbeProblem]) -> ResourceLimits {
        var limits = ResourceLimits(memlockBytes: nil, shmBytes: nil)
        let limitsPath = roots.procPath("self/limits")
        switch FileReading.read(limitsPath.real) {
        case .text(let text):
            if let value = Self.memlock(fromLimits: text) {
                limits.memlockBytes = value
            } else {
                limits.memlockUnknown = true
                problems.append(ProbeProblem(path: limitsPath.logical, problem: "no parseable \"Max locked memory\" line"))
            }
        case .missing, .failed:
            limits.memlockUnknown = true
            problems.append(ProbeProblem(path: limitsPath.logical, problem: "missing or unreadable: memlock limit unknown"))
        }
        limits.shmBytes = shmSize()
        if let status = FileReading.read(roots.procPath("self/status").real).text {
            limits.hasIPCLock = Self.hasIPCLock(status: status)
        }
        return limits
    }

    /// The soft limit from the "Max locked memory" line; `.some(nil)` means unlimited.
    static func memlock(fromLimits text: String) -> UInt64?? {
        for line in text.split(separator: "\n") where line.hasPrefix("Max locked memory") {
            let fields = line.dropFirst("Max locked memory".count).split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let soft = fields.first else { return nil }
            if soft == "unlimited" { return .some(nil) }
            if let value = UInt64(soft) { return .some(value) }
            return nil
        }
        return nil
    }

    /// Size of /dev/shm: the `size=` option of its tmpfs mount in `<proc>/self/mounts`
    /// (the last mount over /dev/shm wins), else statvfs of `<dev>/shm`.
    func shmSize() -> UInt64? {
        if let mounts = FileReading.read(roots.procPath("self/mounts").real).text {
            var size: UInt64?
            var found = false
            for line in mounts.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 4, fields[1] == "/dev/shm" else { continue }
                found = true
                size = nil
                for option in fields[3].split(separator: ",") where option.hasPrefix("size=") {
                    size = Self.parseSize(String(option.dropFirst(5)))
                }
            }
            if found, let size { return size }
        }
        let path = roots.devPath("shm").real
        guard FileReading.isDirectory(path) else { return nil }
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(info.f_blocks) * UInt64(info.f_frsize)
    }

    /// tmpfs sizes as the kernel prints them in mounts: bytes, or with k/m/g suffix.
    static func parseSize(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        let multipliers: [Character: UInt64] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let m = multipliers[last] { return UInt64(text.dropLast()).map { $0 * m } }
        return UInt64(text)
    }

    /// CAP_IPC_LOCK is capability 14 (linux/capability.h); CapEff is a hex bit mask.
    static func hasIPCLock(status: String) -> Bool? {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces)
            guard let mask = UInt64(hex, radix: 16) else { return nil }
            return mask & (1 << 14) != 0
        }
        return nil
    }
}
