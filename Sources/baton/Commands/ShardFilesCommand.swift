import ArgumentParser
import BatonShard
import BatonSupport
import BatonTrainer
import Foundation

struct ShardFilesCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton shard"
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Give each rank whole files, balanced by bytes (largest first to the lightest rank).",
        discussion: "Writes DIR/plan.json (each rank's files and byte total) and DIR/rank-<r>.json.")

    @Argument(help: "Data files.")
    var paths: [String] = []

    @Option(help: ArgumentHelp("A file listing the data files, one per line ('#' comments and blank lines skipped).", valueName: "FILE"))
    var list: String?

    @Option(help: ArgumentHelp("Number of ranks W.", valueName: "W"))
    var world: Int

    @Flag(help: "Allow fewer files than ranks (some ranks get no file).")
    var allowEmpty = false

    @Option(help: ArgumentHelp("Output directory.", valueName: "DIR"))
    var out: String

    func validate() throws {
        if paths.isEmpty == (list == nil) {
            throw ValidationError("give the data files either as arguments or with --list FILE (not both)")
        }
    }

    func run() throws {
        let sources: [(path: String, origin: String?)] =
            try list.map { try ShardInputs.readList(path: $0).map { ($0.path, Optional($0.origin)) } }
            ?? paths.map { ($0, nil) }
        let plan = try FileShardPlan(sources: sources, world: world, allowEmpty: allowEmpty)
        try plan.write(to: out)
        let bytes = plan.ranks.map(\.bytes)
        let empty = plan.ranks.filter { $0.files.isEmpty }.count
        var line = "wrote \(world) file shards to \(out): \(sources.count) files, \(plan.totalBytes) bytes, "
        line += "\(bytes.min()!)-\(bytes.max()!) bytes per rank"
        if empty > 0 { line += ", \(empty) rank\(empty == 1 ? "" : "s") with no file" }
        print(line)
    }
}
