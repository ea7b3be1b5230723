import BatonProtocol
import BatonSystem
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// Point-in-time copies of a run directory (grid or launch), their list, retention and
/// restore. What a snapshot holds and why hard links are safe: docs/snapshots.md.
public enum RunSnapshot {
    /// Where a run's snapshots go unless `--to` names another folder.
    public static let folder = RunDirectory.Relative.snapshots

    public struct Options: Sendable {
        var label: String?
        /// The folder to put the snapshot in (default `RUN/snapshots`).
        var root: String?
        /// Copy every file, link none (`--copy`).
        var forceCopy = false
        /// A checkpoint file modified less than this many seconds ago is copied, not linked:
        /// a trainer may still be writing it in place.
        var settledAfter: Double = 5

        public init(label: String? = nil, root: String? = nil, forceCopy: Bool = false) {
            self.label = label
            self.root = root
            self.forceCopy = forceCopy
        }
    }

    /// A snapshot just taken.
    public struct Taken: Sendable {
        public var dir: String
        public var manifest: SnapshotManifest
        public var linked: Int
        public var copied: Int
    }

    /// Files of a run directory a snapshot leaves out: older snapshots, the `--local` agent
    /// and its per-node session files (made anew by the next head), a pending stop request,
    /// the launch head's pid (a restored run has no head), and SQLite's side files (the
    /// store itself comes through the backup API, complete).
    static func skipped(_ rel: String, name: String) -> Bool {
        if rel == folder || rel == RunDirectory.Relative.local || rel == RunDirectory.Relative.stopRequest || rel == DetachedHead.pidFile { return true }
        return name.hasSuffix(".sqlite-wal") || name.hasSuffix(".sqlite-shm") || name.hasSuffix(".sqlite-journal")
    }

    /// A file under a checkpoint directory: grid configs' `configs/ID/checkpoint/`, a
    /// launch's `checkpoints/` (docs/grid.md, docs/launch.md). Only these may be hard links;
    /// every other file (logs, metrics, JSON state) is appended to in place, so it is copied.
    static func isCheckpoint(_ rel: String) -> Bool {
        rel.split(separator: "/").dropLast().contains(where: RunDirectory.Relative.isCheckpointFolder)
    }

    /// The manifest's kind: the run's (`RunDirectory.kind`), or `run` for a directory that
    /// holds no run's store or files.
    static func kind(of runDir: String) -> String {
        RunDirectory(runDir).kind?.rawValue ?? "run"
    }

    /// `20261203-130512-345` (UTC, milliseconds): sorts in time order, no characters a shell
    /// or a file system minds.
    static func id(for date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        return "\(pad(tm.tm_year + 1900, 4))\(pad(tm.tm_mon + 1, 2))\(pad(tm.tm_mday, 2))-"
            + "\(pad(tm.tm_hour, 2))\(pad(tm.tm_min, 2))\(pad(tm.tm_sec, 2))-\(pad(Int32(ms % 1000), 3))"
    }

    /// Takes a snapshot of `runDir`: first every SQLite store through the online backup API
    /// (one consistent point in time of the run's state, taken while the head writes), then
    /// every other file; checkpoint files hard-linked when they have settled (see `Options`)
    /// and the snapshot is on the same file system, everything else copied. Built in a
    /// hidden folder and renamed into place, so a snapshot either exists whole or not at all.
    public static func take(runDir: String, options: Options = Options()) throws(SnapshotError) -> Taken {
        let fm = FileManager.default
        let run = absolutePath(runDir)
        guard let st = FileStat.of(run), st.isDirectory else { throw SnapshotError(.badInput, "\(runDir) is not a directory") }
        let kind = kind(of: run)
        if kind == "run" && !fm.fileExists(atPath: RunDirectory(run).checkpoints) && !fm.fileExists(atPath: RunDirectory(run).configs) {
            throw SnapshotError(.badInput, "\(runDir) is not a run directory (no \(GridStore.fileName), \(RunDirectory.Relative.events), "
                                + "\(RunDirectory.Relative.checkpoints)/ or \(RunDirectory.Relative.configs)/)")
        }
        let root = absolutePath(options.root ?? RunDirectory(run).snapshots)
        do { try fm.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw SnapshotError(.ioError, "cannot create \(root): \(error.localizedDescription)")
        }
        let started = Date()
        let t0 = monotonicNow()
        var id = Self.id(for: started)
        var n = 2
        while fm.fileExists(atPath: (root as NSString).appendingPathComponent(id)) {
            id = Self.id(for: started) + "-\(n)"
            n += 1
        }
        let tmp = (root as NSString).appendingPathComponent(".tmp-\(id)-\(getpid())")
        try makeDirectory(tmp)
        var done = false
        defer { if !done { try? fm.removeItem(atPath: tmp) } }

        // Hashes of links the newest earlier snapshot here holds, by path: an inode both hold,
        // unchanged (same size and mtime), is not read again.
        var previous: [String: SnapshotManifest.Entry] = [:]
        if let last = list(root: root).last, last.manifest.runDir == run {
            for e in last.manifest.files where e.how == "link" && e.inode != nil { previous[e.path] = e }
        }
        var dirs: [String] = []
        var files: [(rel: String, stat: FileStat)] = []
        try walk(run: run, rel: "", skipAbsolute: [root, tmp], dirs: &dirs, files: &files)

        var entries: [SnapshotManifest.Entry] = []
        var linked = 0
        var copied = 0
        for d in dirs { try makeDirectory((tmp as NSString).appendingPathComponent(d)) }
        // The stores first: their backup is the snapshot's point in time.
        for f in files where f.rel.hasSuffix(".sqlite") {
            let dst = (tmp as NSString).appendingPathComponent(f.rel)
            try backupStore((run as NSString).appendingPathComponent(f.rel), to: dst)
            let (sum, size) = try FileDigest.sha256(path: dst)
            entries.append(.init(path: f.rel, size: size, sha256: sum, how: "backup"))
        }
        for f in files where !f.rel.hasSuffix(".sqlite") {
            let src = (run as NSString).appendingPathComponent(f.rel)
            let dst = (tmp as NSString).appendingPathComponent(f.rel)
            let settled = Date().timeIntervalSince1970 - f.stat.mtime >= options.settledAfter
            if !options.forceCopy && isCheckpoint(f.rel) && settled, let entry = try linkVerified(src, dst, rel: f.rel, previous: previous[f.rel]) {
                entries.append(entry)
                linked += 1
                continue
            }
            // Gone since the walk: a trainer's temp file, renamed over its checkpoint.
            guard case let (sum, size)? = try FileDigest.copy(src, to: dst) else { continue }
            entries.append(.init(path: f.rel, size: size, sha256: sum, how: "copy"))
            copied += 1
        }
        entries.sort { $0.path < $1.path }
        let manifest = SnapshotManifest(
            format: SnapshotManifest.currentFormat, id: id, label: options.label, createdAt: started.timeIntervalSince1970,
            runDir: run, kind: kind, seconds: monotonicNow() - t0, directories: dirs, files: entries)
        try writeDurably(try encode(manifest), to: (tmp as NSString).appendingPathComponent(SnapshotManifest.fileName))
        let final = (root as NSString).appendingPathComponent(id)
        guard rename(tmp, final) == 0 else { throw SnapshotError.io("cannot rename \(tmp) to \(final)") }
        done = true
        syncDirectory(root)
        return Taken(dir: final, manifest: manifest, linked: linked, copied: copied)
    }

    /// A hard link of `src` at `dst`, hashed through the link. Kept only when the inode did
    /// not change while it was hashed (nobody wrote it in place meanwhile); nil when the
    /// file system cannot link (another device: `--to` on another disk) or the file changed,
    /// and the caller copies instead.
    static func linkVerified(_ src: String, _ dst: String, rel: String, previous: SnapshotManifest.Entry? = nil)
        throws(SnapshotError) -> SnapshotManifest.Entry?
    {
        guard let before = FileStat.of(src), before.isRegular, link(src, dst) == 0 else { return nil }
        guard let linkedStat = FileStat.of(dst), linkedStat.inode == before.inode else {
            unlink(dst)
            return nil
        }
        if let p = previous, p.inode == before.inode, p.mtimeNanos == before.mtimeNanos, p.size == before.size {
            return .init(path: rel, size: p.size, sha256: p.sha256, how: "link", inode: before.inode, mtimeNanos: before.mtimeNanos)
        }
        let (sum, size) = try FileDigest.sha256(path: dst)
        guard let after = FileStat.of(dst), after.size == before.size, after.mtimeNanos == before.mtimeNanos, size == before.size
        else {
            unlink(dst)
            return nil
        }
        return .init(path: rel, size: size, sha256: sum, how: "link", inode: before.inode, mtimeNanos: before.mtimeNanos)
    }

    static func walk(run: String, rel: String, skipAbsolute: [String], dirs: inout [String],
                     files: inout [(rel: String, stat: FileStat)]) throws(SnapshotError) {
        let dir = rel.isEmpty ? run : (run as NSString).appendingPathComponent(rel)
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted() } catch {
            throw SnapshotError(.ioError, "cannot list \(dir): \(error.localizedDescription)")
        }
        for name in names {
            let r = rel.isEmpty ? name : rel + "/" + name
            let full = (run as NSString).appendingPathComponent(r)
            if skipped(r, name: name) || skipAbsolute.contains(full) { continue }
            guard let st = FileStat.of(full) else { continue }  // gone since the listing
            if st.isDirectory {
                dirs.append(r)
                try walk(run: run, rel: r, skipAbsolute: skipAbsolute, dirs: &dirs, files: &files)
            } else if st.isRegular {
                files.append((r, st))
            }
            // Symbolic links, sockets and FIFOs are not run state; they are left out.
        }
    }

    /// SQLite's online backup of the store at `source` into a new database at `destination`:
    /// a consistent copy while the head keeps writing (WAL readers do not block the writer).
    static func backupStore(_ source: String, to destination: String) throws(SnapshotError) {
        do {
            var config = Configuration()
            config.readonly = true
            config.busyMode = .timeout(10)
            let from = try DatabaseQueue(path: source, configuration: config)
            let to = try DatabaseQueue(path: destination)
            try from.backup(to: to)
            try to.close()
            try from.close()
        } catch {
            throw SnapshotError(.ioError, "cannot back up the store \(source): \(error)")
        }
        // A closed database leaves no side files; make sure none is left to be missed.
        for side in ["-wal", "-shm", "-journal"] { unlink(destination + side) }
    }

    static func makeDirectory(_ path: String) throws(SnapshotError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw SnapshotError(.ioError, "cannot create \(path): \(error.localizedDescription)")
        }
    }

    static func encode(_ manifest: SnapshotManifest) throws(SnapshotError) -> Data {
        do { return try manifest.encoded() } catch { throw SnapshotError(.ioError, "cannot encode the manifest: \(error)") }
    }

    static func writeDurably(_ data: Data, to path: String) throws(SnapshotError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SnapshotError.io("cannot create \(path)") }
        defer { close(fd) }
        let ok = data.withUnsafeBytes { p -> Bool in
            var off = 0
            while off < p.count {
                let w = write(fd, p.baseAddress! + off, p.count - off)
                if w < 0 { if errno == EINTR { continue }; return false }
                off += w
            }
            return true
        }
        guard ok, fsync(fd) == 0 else { throw SnapshotError.io("cannot write \(path)") }
    }

    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    // MARK: Listing and retention

    /// A snapshot found in a folder.
    public struct Listed: Sendable {
        public var dir: String
        public var manifest: SnapshotManifest
    }

    /// The folder a run's snapshots are in: `PATH/snapshots` when PATH is a run directory
    /// that has one, else PATH itself (a `--to` folder).
    public static func root(for path: String) -> String {
        let sub = (path as NSString).appendingPathComponent(folder)
        return FileStat.of(sub)?.isDirectory == true ? sub : path
    }

    /// The snapshots in `root`, oldest first. Folders without a readable manifest (one
    /// being built, or not a snapshot) are not listed.
    public static func list(root: String) -> [Listed] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap { name -> Listed? in
            let dir = (root as NSString).appendingPathComponent(name)
            guard let m = try? SnapshotManifest.load(snapshotDir: dir) else { return nil }
            return Listed(dir: dir, manifest: m)
        }.sorted { ($0.manifest.createdAt, $0.manifest.id) < ($1.manifest.createdAt, $1.manifest.id) }
    }

    /// Keeps the `keep` newest snapshots in `root` and removes the rest, oldest first; also
    /// the hidden folders a killed snapshot or retention left (`.tmp-ID-PID`,
    /// `.removing-ID-PID` whose PID is no longer alive). Returns the removed snapshots' ids.
    @discardableResult
    public static func prune(root: String, keep: Int) throws(SnapshotError) -> [String] {
        guard keep >= 1 else { throw SnapshotError(.badInput, "keep at least 1 snapshot (asked for \(keep))") }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        where name.hasPrefix(".tmp-") || name.hasPrefix(".removing-") {
            guard let pid = name.split(separator: "-").last.flatMap({ Int32($0) }), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (root as NSString).appendingPathComponent(name))
            }
        }
        let all = list(root: root)
        var removed: [String] = []
        for s in all.dropLast(keep) {
            // Renamed out of the listing first, so a half-removed snapshot is never listed.
            let doomed = (root as NSString).appendingPathComponent(".removing-\(s.manifest.id)-\(getpid())")
            guard rename(s.dir, doomed) == 0 else { throw SnapshotError.io("cannot remove \(s.dir)") }
            do { try FileManager.default.removeItem(atPath: doomed) } catch {
                throw SnapshotError(.ioError, "cannot remove \(doomed): \(error.localizedDescription)")
            }
            removed.append(s.manifest.id)
        }
        return removed
    }

    // MARK: Restore

    public struct Restored: Sendable {
        public var runDir: String
        public var manifest: SnapshotManifest
        public var linked: Int
        public var copied: Int
    }

    /// Checks every file of the snapshot against its manifest and refuses (`.dataError`,
    /// naming every file that does not match) before anything is written; then lays the
    /// files out as a run directory at `newRun` (which must not exist, or be empty), built
    /// beside it and renamed into place. Checkpoint files are hard links to the snapshot's
    /// (unless `forceCopy` or another file system), everything else copies; a grid store
    /// is marked as having no head, so `baton grid --resume NEWRUN` continues it.
    public static func restore(snapshot: String, to newRun: String, forceCopy: Bool = false) throws(SnapshotError) -> Restored {
        let fm = FileManager.default
        let snap = absolutePath(snapshot)
        let manifest = try SnapshotManifest.load(snapshotDir: snap)
        let problems = manifest.verify(snapshotDir: snap)
        if !problems.isEmpty {
            throw SnapshotError(.dataError,
                "snapshot \(snapshot) does not match its manifest; nothing was restored:\n"
                + problems.map { "  \($0)" }.joined(separator: "\n"))
        }
        let target = absolutePath(newRun)
        if let st = FileStat.of(target) {
            let empty = st.isDirectory && ((try? fm.contentsOfDirectory(atPath: target))?.isEmpty ?? false)
            guard empty else { throw SnapshotError(.badInput, "\(newRun) exists; restore into a new directory") }
            rmdir(target)
        }
        let parent = (target as NSString).deletingLastPathComponent
        try makeDirectory(parent)
        let tmp = (parent as NSString).appendingPathComponent(".\((target as NSString).lastPathComponent).restore-\(getpid())")
        try? fm.removeItem(atPath: tmp)
        try makeDirectory(tmp)
        var done = false
        defer { if !done { try? fm.removeItem(atPath: tmp) } }
        for d in manifest.directories { try makeDirectory((tmp as NSString).appendingPathComponent(d)) }
        var linked = 0
        var copied = 0
        for e in manifest.files {
            let src = (snap as NSString).appendingPathComponent(e.path)
            let dst = (tmp as NSString).appendingPathComponent(e.path)
            try makeDirectory((dst as NSString).deletingLastPathComponent)
            if !forceCopy && isCheckpoint(e.path) && link(src, dst) == 0 {
                linked += 1
                continue
            }
            guard case let (sum, size)? = try FileDigest.copy(src, to: dst), sum == e.sha256, size == e.size else {
                throw SnapshotError(.dataError, "\(e.path) changed or vanished while it was restored; nothing was restored")
            }
            copied += 1
        }
        if fm.fileExists(atPath: RunDirectory(tmp).gridStore) {
            do {
                let store = try GridStore(runDir: tmp)
                try store.commit([.meta("head_pid", "0"), .meta("restored_from", snap)])
            } catch {
                throw SnapshotError(.dataError, "the restored store \(GridStore.fileName) cannot be opened: \(error)")
            }
        }
        guard rename(tmp, target) == 0 else { throw SnapshotError.io("cannot rename \(tmp) to \(target)") }
        done = true
        syncDirectory(parent)
        return Restored(runDir: target, manifest: manifest, linked: linked, copied: copied)
    }
}
