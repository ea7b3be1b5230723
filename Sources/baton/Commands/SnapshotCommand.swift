import ArgumentParser
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Take a verified point-in-time copy of a run (grid or launch); list and check them.",
        discussion: """
            baton snapshot RUN [--label L] [--to DIR] [--copy]   take one (RUN/snapshots/ID, or DIR/ID)
            baton snapshot list RUN|DIR [--json] [--verify]      the snapshots, oldest first
            baton snapshot verify SNAPSHOT                       check every file against the manifest
            baton restore SNAPSHOT --to NEWRUN                   verify, then lay out a run to --resume
            A snapshot holds the run store (SQLite's online backup, consistent while the head writes),
            every other file of the run directory (logs, metrics, launch JSON state: copies), every
            checkpoint directory (hard links to checkpoint files that have settled, on the same file
            system; copies otherwise or with --copy) and manifest.json (size and sha256 of every file).
            Exit: 0 done; 2 bad input; 65 a snapshot does not match its manifest; 74 a file could not
            be read or written. See docs/snapshots.md.
            """,
        subcommands: [SnapshotTakeCommand.self, SnapshotListCommand.self, SnapshotVerifyCommand.self],
        defaultSubcommand: SnapshotTakeCommand.self)
}

struct SnapshotTakeCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton snapshot"
    static let configuration = CommandConfiguration(
        commandName: "take", abstract: "Take a snapshot (the default: `baton snapshot RUN`).")

    @Argument(help: ArgumentHelp("The run directory (a grid's or a launch's).", valueName: "run")) var runDir: String
    @Option(help: "A label kept in the manifest and shown by `list`.") var label: String?
    @Option(help: "The folder to put it in (default RUN/snapshots); on another disk every file is copied.") var to: String?
    @Flag(help: "Copy every checkpoint file instead of hard-linking the settled ones.") var copy = false
    @Option(help: "Then keep only the N newest snapshots in that folder.") var keep: Int?
    @Flag(help: "Print the manifest summary as JSON.") var json = false

    func run() throws {
        let o = RunSnapshot.Options(label: label, root: to, forceCopy: copy)
        let t: RunSnapshot.Taken
        var removed: [String] = []
        t = try RunSnapshot.take(runDir: runDir, options: o)
        if let keep { removed = try RunSnapshot.prune(root: (t.dir as NSString).deletingLastPathComponent, keep: keep) }
        let m = t.manifest
        if json {
            let obj: [String: Any] = [
                "id": m.id, "dir": t.dir, "label": m.label ?? NSNull(), "files": m.files.count, "bytes": m.bytes,
                "linked": t.linked, "copied": t.copied, "seconds": m.seconds, "removed": removed,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("snapshot \(m.id) of \(m.runDir) (\(m.kind)): \(m.files.count) files, \(ByteSize.human(UInt64(m.bytes))) "
            + "(\(t.linked) linked, \(t.copied) copied) in \(formatDuration(m.seconds, .seconds(digits: 2)))")
        print("  at:      \(t.dir)")
        if !removed.isEmpty { print("  removed: \(removed.joined(separator: ", ")) (keeping \(keep ?? 0))") }
        print("  restore: baton restore \(t.dir) --to NEWRUN")
    }
}

struct SnapshotListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the snapshots of a run (RUN/snapshots) or of a --to folder, oldest first.")

    @Argument(help: "A run directory, or a folder of snapshots.") var path: String
    @Flag(help: "JSON: a list of {id, label, created_at, files, bytes, verified, problems, dir}.") var json = false
    @Flag(help: "Check every file's sha256 (reads every byte); by default only presence and size.") var verify = false

    func run() throws {
        let root = RunSnapshot.root(for: path)
        let all = RunSnapshot.list(root: root)
        let checked = all.map { s in (s, s.manifest.verify(snapshotDir: s.dir, sizesOnly: !verify)) }
        let how = verify ? "sha256" : "sizes"
        if json {
            let list: [[String: Any]] = checked.map { s, problems in
                [
                    "id": s.manifest.id, "label": s.manifest.label ?? NSNull(), "created_at": s.manifest.createdAt,
                    "files": s.manifest.files.count, "bytes": s.manifest.bytes, "verified": problems.isEmpty ? how : "no",
                    "problems": problems.map(\.description), "dir": s.dir, "kind": s.manifest.kind,
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if all.isEmpty {
            print("no snapshots in \(root)")
            return
        }
        let f = ISO8601DateFormatter()
        var table = TextTable(header: ["id", "label", "time", "files", "bytes", "verified"])
        for (s, problems) in checked {
            table.add([
                s.manifest.id, s.manifest.label ?? "", f.string(from: Date(timeIntervalSince1970: s.manifest.createdAt)),
                String(s.manifest.files.count), ByteSize.human(UInt64(s.manifest.bytes)),
                problems.isEmpty ? "\(how) ok" : "NO: \(problems[0])" + (problems.count > 1 ? " (+\(problems.count - 1) more)" : ""),
            ])
        }
        print(table.render())
        print("in \(root)")
        if checked.contains(where: { !$0.1.isEmpty }) { throw CommandFailure(ExitCodes.dataError) }
    }
}

struct SnapshotVerifyCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton snapshot verify"
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check every file of a snapshot against its manifest (size and sha256).")

    @Argument(help: "The snapshot's folder.") var snapshot: String

    func run() throws {
        let m: SnapshotManifest
        m = try SnapshotManifest.load(snapshotDir: snapshot)
        let problems = m.verify(snapshotDir: snapshot)
        guard problems.isEmpty else {
            throw (SnapshotError(.dataError,
                "snapshot \(snapshot) does not match its manifest:\n" + problems.map { "  \($0)" }.joined(separator: "\n")))
        }
        print("snapshot \(m.id): \(m.files.count) files, \(ByteSize.human(UInt64(m.bytes))), every sha256 matches the manifest")
    }
}
