// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import BatonProtocol
import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// `baton-exec health`: the node side of `baton launch`'s health gate, run as the one rank
/// of a one-node mpirun before an attempt uses the node. The fast checks of `baton doctor`
/// that decide whether a job can run here at all: every directory the job writes
/// (the run directory, the checkpoints) is writable and has the space asked for, and the
/// memlock limit is what RDMA needs (when asked). Prints one line, `baton-health: ok` or
/// `baton-health: <what is wrong>`, and exits 0 either way: the line is the answer. A rank
/// that exits non-zero makes mpirun abort the job, and Open MPI 4.1.4 then stops forwarding
/// output and may hang (docs/launch.md, "Liveness"): the answer would be lost, and a failed
/// check read as a node that never answered (measured on `--local`: 10 s timeouts).
public enum NodeHealth {
    public static func run(_ args: HealthArguments) -> Never {
        let problems = check(args)
        let line = HealthArguments.answerPrefix + (problems.isEmpty ? "ok" : problems.joined(separator: "; "))
        exit(writeAll(fd: 1, line + "\n") ? 0 : 1)
    }

    static func check(_ args: HealthArguments) -> [String] {
        var problems: [String] = []
        var seen = Set<String>()
        for dir in args.directories {
            // A checkpoint directory not made yet is judged by the run directory above it: once.
            let existing = nearestExisting(dir)
            guard seen.insert(existing).inserted else { continue }
            var info = statvfs()
            guard statvfs(existing, &info) == 0 else { problems.append("cannot stat \(existing): \(String(cString: strerror(errno)))"); continue }
            let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
            if free < args.minFree { problems.append("\(existing): \(free >> 20) MiB free, needs \(args.minFree >> 20) MiB") }
            // A read-only mount or a full inode table shows only when writing.
            let probe = existing + (existing.hasSuffix("/") ? "" : "/") + ".baton-health-\(getpid())"
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd < 0 { problems.append("\(existing) is not writable: \(String(cString: strerror(errno)))") } else { close(fd); unlink(probe) }
        }
        if let min = args.minMemlock {
            var limit = rlimit()  // RLIM_INFINITY is ~0 (Swift cannot import the macro)
            if getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max, UInt64(limit.rlim_cur) < min {
                problems.append("memlock limit \(UInt64(limit.rlim_cur) >> 10) KiB, needs \(min >> 10) KiB (ulimit -l)")
            }
        }
        return problems
    }

    /// `path`, or its nearest ancestor that exists (a run's checkpoint directory is made by
    /// the first rank that writes there).
    static func nearestExisting(_ path: String) -> String {
        var p = path
        while !p.isEmpty && p != "/" && access(p, F_OK) != 0 {
            if let slash = p.lastIndex(of: "/") { p = slash == p.startIndex ? "/" : String(p[..<slash]) } else { return "." }
        }
        return p.isEmpty ? "/" : p
    }
}
