// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import BatonSystem
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// The second way the head's messages (leases, signals) reach a rank: a file the head
/// appends every message to, read only by ranks that mpirun started itself.
///
/// Why: Open MPI 4.1's `mpirun --stdin all` forwards stdin to the ranks its daemons start
/// on other nodes, but nothing to the ranks it starts on its own node (measured, 4.1.4:
/// `echo hi | mpirun --stdin all -np 1 cat` hangs; in an sbatch job, the ranks on the
/// batch node got nothing while the others did). Those are the ranks of `-H localhost:8`
/// and of the first node of every sbatch job: without this they heard no lease and fenced
/// themselves, and their node was judged lost.
///
/// The file is `RUN/attempts/attempt-N.head`. Its first line, `@baton/1 mpirun PID`, is
/// written (temp + rename) before any message; a wrapper uses the file only when PID is its
/// own parent, which is true exactly for the ranks mpirun forked itself. A rank on another
/// node, whose parent is that node's daemon, ignores it even where the run directory is
/// shared (the test bed, a shared file system), so a cut-off node still fences.
public enum HeadChannel {
    public static func path(runDir: String, attempt: Int) -> String { RunDirectory(runDir).headChannel(attempt) }

    public static func header(mpirun pid: Int32) -> String { "\(TaggedLine.prefix) mpirun \(pid)" }

    /// The mpirun pid a header line names.
    static func mpirun<S: StringProtocol>(inHeader line: S) -> Int32? {
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == TaggedLine.prefix, parts[1] == "mpirun" else { return nil }
        return Int32(parts[2])
    }

    /// The head's side: one file per attempt, appended to with O_APPEND (one write per
    /// message, so a reader never sees half of one, given that it reads whole lines).
    public final class Writer: @unchecked Sendable {
        private let fd: Int32

        /// Creates the file with its header (temp + rename). Nil when it cannot.
        public init?(path: String, mpirun pid: Int32) {
            let tmp = path + ".tmp"
            let t = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard t >= 0 else { return nil }
            let ok = writeAll(fd: t, HeadChannel.header(mpirun: pid) + "\n")
            close(t)
            guard ok, rename(tmp, path) == 0 else { unlink(tmp); return nil }
            fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { return nil }
        }

        deinit { close(fd) }

        public func append(_ message: HeadMessage) { _ = writeAll(fd: fd, message.encoded + "\n") }
    }

    /// Whether the file at `path` is there and names this process's parent.
    public static func isFor(thisProcess path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0, let first = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n").first else { return false }
        return mpirun(inHeader: first) == getppid()
    }

    /// The wrapper's side: waits up to `within` seconds for the file; when its header names
    /// this process's parent, calls `line` for every message appended, polling every
    /// `every` seconds, until `stop()` says so or the parent is no longer that mpirun (then
    /// returns true: mpirun is gone). Returns false at once when the file is not for this
    /// process (or never came).
    public static func follow(path: String, within: Double, every: Double = 0.1, stop: () -> Bool,
                              _ line: (Substring) -> Void) -> Bool {
        var fd: Int32 = -1
        _ = pollUntil(atMost: within, every: every) {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            return fd >= 0 || stop()
        }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var pending = ""
        var parent: Int32?
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stop() {
            var got = false
            while true {
                let n = read(fd, &buffer, buffer.count)
                guard n > 0 else { break }
                got = true
                pending += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            while let nl = pending.firstIndex(of: "\n") {
                let l = pending[..<nl]
                if parent == nil {
                    guard let pid = mpirun(inHeader: l), pid == getppid() else { return false }
                    parent = pid
                } else {
                    line(l)
                }
                pending = String(pending[pending.index(after: nl)...])
            }
            if let p = parent, getppid() != p { return true }
            if !got { usleep(UInt32(every * 1_000_000)) }
        }
        return false
    }
}
