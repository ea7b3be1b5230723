import ArgumentParser
import BatonCore
import BatonSupport
import Foundation

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Check a snapshot against its manifest, then lay it out as a new run directory to --resume.",
        discussion: """
            Every file is checked (size and sha256) before anything is written; on any mismatch nothing is
            restored and every file that differs is named (exit 65). NEWRUN must not exist (or be empty).
            Checkpoint files become hard links to the snapshot's (copies with --copy or on another disk),
            every other file a copy. Then `baton grid --resume NEWRUN` continues the run.
            """)

    @Argument(help: "The snapshot's folder (RUN/snapshots/ID).") var snapshot: String
    @Option(help: "The new run directory.") var to: String
    @Flag(help: "Copy the checkpoint files too, so the new run shares no inode with the snapshot.") var copy = false

    func run() throws {
        let r: RunSnapshot.Restored
        r = try RunSnapshot.restore(snapshot: snapshot, to: to, forceCopy: copy)
        print("restored snapshot \(r.manifest.id) (\(r.manifest.files.count) files, \(ByteSize.human(UInt64(r.manifest.bytes))), "
            + "every sha256 checked; \(r.linked) linked, \(r.copied) copied) into \(r.runDir)")
        switch r.manifest.kind {
        case "grid": print("continue it with: baton grid --resume \(to)")
        case "launch": print("continue it with: baton launch --resume \(to)")
        default: break
        }
    }
}
