import Foundation
import Testing
@testable import BatonGrid
@testable import BatonRuns

#if canImport(Glibc)
import Glibc
#endif

/// A fake grid run directory: a real store, a config's checkpoint and its attempt log.
private func makeRun() throws -> (dir: String, cleanup: () -> Void) {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("baton-snap-\(UUID().uuidString)").path
    let settings = GridRun.Settings(
        specPath: "s.yaml", specText: "command: [true]\nparameters: {a: [1]}\n", nodeNames: ["local-0"],
        hostSource: "--local 1", executor: "local", heartbeatTimeout: 10, coolDown: 60)
    let store = try GridRun.create(runDir: dir, settings: settings, configs: [])
    try store.commit([.meta("head_pid", "4242")])
    let ckpt = (dir as NSString).appendingPathComponent("configs/abc/checkpoint")
    try fm.createDirectory(atPath: ckpt, withIntermediateDirectories: true)
    try Data(repeating: 7, count: 3 * (1 << 20) + 5).write(to: URL(fileURLWithPath: ckpt + "/model.bin"))
    try "12\n".write(toFile: ckpt + "/step", atomically: true, encoding: .utf8)
    try "local-0:0 step 12\n".write(toFile: dir + "/configs/abc/attempt-1.log", atomically: true, encoding: .utf8)
    try fm.createDirectory(atPath: dir + "/configs/def/checkpoint", withIntermediateDirectories: true)  // empty
    try fm.createDirectory(atPath: dir + "/local", withIntermediateDirectories: true)
    try "x".write(toFile: dir + "/local/agent", atomically: true, encoding: .utf8)
    return (dir, { try? fm.removeItem(atPath: dir) })
}

/// Options that link every checkpoint file (none counts as still being written).
private func linking() -> RunSnapshot.Options {
    var o = RunSnapshot.Options()
    o.settledAfter = -1
    return o
}

@Test func aSnapshotListsEveryFileWithSizeAndSha256AndLeavesOutTheLocalAgent() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    let t = try RunSnapshot.take(runDir: dir, options: linking())
    let paths = t.manifest.files.map(\.path)
    #expect(paths == ["configs/abc/attempt-1.log", "configs/abc/checkpoint/model.bin", "configs/abc/checkpoint/step", "grid.sqlite"])
    #expect(t.manifest.directories.contains("configs/def/checkpoint"))
    #expect(t.manifest.kind == "grid")
    let model = try #require(t.manifest.files.first { $0.path.hasSuffix("model.bin") })
    #expect(model.size == 3 * (1 << 20) + 5)
    #expect(model.how == "link")
    #expect(t.manifest.files.first { $0.path == "grid.sqlite" }?.how == "backup")
    #expect(t.manifest.files.first { $0.path.hasSuffix(".log") }?.how == "copy")
    #expect(t.manifest.verify(snapshotDir: t.dir).isEmpty)
    // A hard link shares the inode of the run's file.
    #expect(FileStat.of(t.dir + "/configs/abc/checkpoint/model.bin")?.inode == FileStat.of(dir + "/configs/abc/checkpoint/model.bin")?.inode)
}

@Test func sha256MatchesThePublishedTestVectors() throws {
    // FIPS 180-2 appendix B.1 ("abc") and B.3 (a million "a").
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
    defer { unlink(path) }
    try "abc".write(toFile: path, atomically: true, encoding: .utf8)
    let (abc, n) = try FileDigest.sha256(path: path)
    #expect(abc == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" && n == 3)
    try Data(repeating: UInt8(ascii: "a"), count: 1_000_000).write(to: URL(fileURLWithPath: path))
    #expect(try FileDigest.sha256(path: path).0 == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    let copy = path + ".copy"
    defer { unlink(copy) }
    #expect(try FileDigest.copy(path, to: copy)?.0 == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
}

@Test func aCheckpointFileModifiedJustNowIsCopiedNotLinked() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    var o = RunSnapshot.Options()
    o.settledAfter = 3600  // every file counts as possibly still being written
    let t = try RunSnapshot.take(runDir: dir, options: o)
    #expect(t.linked == 0)
    #expect(t.manifest.files.allSatisfy { $0.how != "link" })
    #expect(FileStat.of(t.dir + "/configs/abc/checkpoint/model.bin")?.links == 1)
}

@Test func forceCopyLinksNothing() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    var o = linking()
    o.forceCopy = true
    let t = try RunSnapshot.take(runDir: dir, options: o)
    #expect(t.linked == 0 && t.copied == 3)
}

@Test func oneFlippedByteIsNamedByVerifyAndRestoreRefusesWritingNothing() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    var o = linking()
    o.forceCopy = true  // so flipping the snapshot's byte leaves the run alone
    let t = try RunSnapshot.take(runDir: dir, options: o)
    let victim = t.dir + "/configs/abc/checkpoint/model.bin"
    let fd = open(victim, O_RDWR)
    #expect(fd >= 0)
    var b: UInt8 = 0
    pread(fd, &b, 1, 1000)
    b ^= 0x01
    pwrite(fd, &b, 1, 1000)
    close(fd)
    let problems = t.manifest.verify(snapshotDir: t.dir)
    #expect(problems.map(\.path) == ["configs/abc/checkpoint/model.bin"])
    #expect(t.manifest.verify(snapshotDir: t.dir, sizesOnly: true).isEmpty)  // same size: only the hash tells
    let target = dir + "-restored"
    defer { try? FileManager.default.removeItem(atPath: target) }
    let e = #expect(throws: SnapshotError.self) { _ = try RunSnapshot.restore(snapshot: t.dir, to: target) }
    #expect(e?.code == .dataError)
    #expect(e?.message.contains("configs/abc/checkpoint/model.bin: sha256") == true)
    #expect(!FileManager.default.fileExists(atPath: target))
}

@Test func aMissingOrTruncatedFileIsNamed() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    let t = try RunSnapshot.take(runDir: dir, options: linking())
    unlink(t.dir + "/configs/abc/checkpoint/step")
    truncate(t.dir + "/configs/abc/attempt-1.log", 3)
    let problems = t.manifest.verify(snapshotDir: t.dir, sizesOnly: true)
    #expect(problems.map(\.path) == ["configs/abc/attempt-1.log", "configs/abc/checkpoint/step"])
    #expect(problems[1].what == "missing")
}

@Test func restoreLaysOutARunWhoseStoreHasNoHead() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    let t = try RunSnapshot.take(runDir: dir, options: linking())
    let target = dir + "-restored"
    defer { try? FileManager.default.removeItem(atPath: target) }
    let r = try RunSnapshot.restore(snapshot: t.dir, to: target)
    #expect(r.linked == 2 && r.copied == 2)
    let store = try GridStore(runDir: target)
    let meta = try store.meta()
    #expect(meta["head_pid"] == "0")
    #expect(meta["spec_text"]?.contains("parameters") == true)
    #expect(FileManager.default.fileExists(atPath: target + "/configs/def/checkpoint"))
    #expect(try String(contentsOfFile: target + "/configs/abc/checkpoint/step", encoding: .utf8) == "12\n")
    #expect(!FileManager.default.fileExists(atPath: target + "/local"))
    // Into a directory that holds something: refused.
    #expect(throws: SnapshotError.self) { _ = try RunSnapshot.restore(snapshot: t.dir, to: target) }
}

@Test func retentionKeepsExactlyTheNewestN() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    var ids: [String] = []
    for i in 0..<5 {
        var o = linking()
        o.label = "n\(i)"
        ids.append(try RunSnapshot.take(runDir: dir, options: o).manifest.id)
    }
    #expect(Set(ids).count == 5)
    let root = RunSnapshot.root(for: dir)
    #expect(RunSnapshot.list(root: root).count == 5)
    let removed = try RunSnapshot.prune(root: root, keep: 2)
    #expect(removed == Array(ids.prefix(3)))
    #expect(RunSnapshot.list(root: root).map(\.manifest.id) == Array(ids.suffix(2)))
    #expect(RunSnapshot.list(root: root).map(\.manifest.label) == ["n3", "n4"])
    // What a killed snapshot left (its pid gone) goes; one being built by a live process stays.
    let stale = root + "/.tmp-20260101-000000-000-4194305"  // above Linux's largest pid
    let live = root + "/.tmp-20260101-000000-000-\(getpid())"
    for d in [stale, live] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
    #expect(try RunSnapshot.prune(root: root, keep: 2).isEmpty)
    #expect(!FileManager.default.fileExists(atPath: stale))
    #expect(FileManager.default.fileExists(atPath: live))
    #expect(throws: SnapshotError.self) { try RunSnapshot.prune(root: root, keep: 0) }
    // Snapshots never include earlier ones.
    #expect(!RunSnapshot.list(root: root).last!.manifest.files.contains { $0.path.hasPrefix("snapshots/") })
}

@Test func aDirectoryThatIsNoRunIsRefused() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-norun-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: SnapshotError.self) { _ = try RunSnapshot.take(runDir: dir) }
    #expect(throws: SnapshotError.self) { _ = try RunSnapshot.take(runDir: dir + "/nope") }
}

@Test func anUnchangedLinkedInodeKeepsItsHashAndARenamedCheckpointIsHashedAnew() throws {
    let (dir, cleanup) = try makeRun()
    defer { cleanup() }
    let ckpt = dir + "/configs/abc/checkpoint"
    let first = try RunSnapshot.take(runDir: dir, options: linking())
    // The trainer saves a new step the recommended way: temp file, then rename (a new inode).
    try "13\n".write(toFile: ckpt + "/.step.tmp", atomically: false, encoding: .utf8)
    #expect(rename(ckpt + "/.step.tmp", ckpt + "/step") == 0)
    // And (wrongly) rewrites model.bin in place, same size, then sets its mtime back.
    let old = try #require(FileStat.of(ckpt + "/model.bin"))
    let fd = open(ckpt + "/model.bin", O_WRONLY)
    var b: UInt8 = 9
    pwrite(fd, &b, 1, 0)
    var times = [timespec(tv_sec: Int(old.mtimeNanos / 1_000_000_000), tv_nsec: Int(old.mtimeNanos % 1_000_000_000)),
                 timespec(tv_sec: Int(old.mtimeNanos / 1_000_000_000), tv_nsec: Int(old.mtimeNanos % 1_000_000_000))]
    futimens(fd, &times)
    close(fd)
    let second = try RunSnapshot.take(runDir: dir, options: linking())
    func sha(_ t: RunSnapshot.Taken, _ name: String) -> String? { t.manifest.files.first { $0.path.hasSuffix(name) }?.sha256 }
    #expect(sha(second, "/step") != sha(first, "/step"))  // new inode: hashed anew
    #expect(try String(contentsOfFile: first.dir + "/configs/abc/checkpoint/step", encoding: .utf8) == "12\n")  // the old snapshot kept its inode
    // Same inode, size and mtime: the hash was taken over, not read again...
    #expect(sha(second, "/model.bin") == sha(first, "/model.bin"))
    // ...so the in-place rewrite is caught where it always is: by verification (of both).
    #expect(second.manifest.verify(snapshotDir: second.dir).map(\.path) == ["configs/abc/checkpoint/model.bin"])
    #expect(first.manifest.verify(snapshotDir: first.dir).map(\.path) == ["configs/abc/checkpoint/model.bin"])
}
