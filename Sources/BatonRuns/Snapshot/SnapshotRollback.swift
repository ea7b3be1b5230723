import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension RunSnapshot {
    /// What a rollback did.
    public struct RolledBack: Sendable, Equatable {
        public var snapshotID: String
        public var files: Int
        /// Where the unreadable directory was moved (kept for a post-mortem).
        public var keptAs: String
        /// Newer snapshots passed over because their copy of the directory did not verify.
        public var skipped: [String]
    }

    /// `--on-corrupt-checkpoint rollback`: replaces `RUN/subdir` (a checkpoint directory)
    /// with its copy in the newest snapshot of `root` (default: the run's own) whose files
    /// under it all match the manifest (size and sha256) and differ from what is there now
    /// (a snapshot taken after the trainer wrote the unreadable checkpoint verifies too: it
    /// holds the same bad bytes). The files are copied, never
    /// linked (the trainer that just wrote a corrupt checkpoint may write in place); the
    /// directory is built beside the old one and swapped in by rename, the old one kept as
    /// `subdir.corrupt-TIME`. Nil when no snapshot holds a verified file of it.
    public static func rollback(runDir: String, subdir: String, root: String? = nil) throws(SnapshotError) -> RolledBack? {
        let prefix = subdir.hasSuffix("/") ? subdir : subdir + "/"
        var skipped: [String] = []
        func current(_ e: SnapshotManifest.Entry) -> String? {
            try? FileDigest.sha256(path: (runDir as NSString).appendingPathComponent(e.path)).0
        }
        for s in list(root: root ?? self.root(for: runDir)).reversed() {
            var part = s.manifest
            part.files = s.manifest.files.filter { $0.path.hasPrefix(prefix) }
            guard !part.files.isEmpty else { continue }
            if part.files.allSatisfy({ current($0) == $0.sha256 }) { continue }  // the same bytes as now
            guard part.verify(snapshotDir: s.dir).isEmpty else { skipped.append(s.manifest.id); continue }
            let target = (runDir as NSString).appendingPathComponent(subdir)
            let fresh = target + ".rollback-\(getpid())"
            try? FileManager.default.removeItem(atPath: fresh)
            try makeDirectory(fresh)
            for d in s.manifest.directories where d.hasPrefix(prefix) {
                try makeDirectory((fresh as NSString).appendingPathComponent(String(d.dropFirst(prefix.count))))
            }
            for e in part.files {
                let dst = (fresh as NSString).appendingPathComponent(String(e.path.dropFirst(prefix.count)))
                try makeDirectory((dst as NSString).deletingLastPathComponent)
                guard case let (sum, size)? = try FileDigest.copy((s.dir as NSString).appendingPathComponent(e.path), to: dst),
                      sum == e.sha256, size == e.size else {
                    throw SnapshotError(.dataError, "\(e.path) changed while it was rolled back from snapshot \(s.manifest.id)")
                }
            }
            let kept = target + ".corrupt-\(Int(Date().timeIntervalSince1970))"
            if FileStat.of(target) != nil {
                guard rename(target, kept) == 0 else { throw SnapshotError.io("cannot move \(target) aside") }
            }
            guard rename(fresh, target) == 0 else { throw SnapshotError.io("cannot rename \(fresh) to \(target)") }
            syncDirectory((target as NSString).deletingLastPathComponent)
            return RolledBack(snapshotID: s.manifest.id, files: part.files.count, keptAs: kept, skipped: skipped)
        }
        return nil
    }
}
