import ArgumentParser
import BatonShard
import BatonSupport
import BatonTrainer
import Foundation

struct ShardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shard",
        abstract: "Split a dataset across ranks: sample indices, whole files, or byte ranges.",
        discussion: """
            Every sample exactly once per epoch (or an explicit pad/drop policy), deterministic \
            on every machine, resumable on a different world size with --consumed. Writes \
            DIR/plan.json plus one file per rank. See docs/sharding.md.
            """,
        subcommands: [ShardSamplesCommand.self, ShardFilesCommand.self, ShardBytesCommand.self])
}

extension ShardPolicy: ExpressibleByArgument {}
extension ShardFormat: ExpressibleByArgument {}

struct ShardSamplesCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton shard"
    static let configuration = CommandConfiguration(
        commandName: "samples",
        abstract: "Write each rank's sample indices (.npy int64 or .json) and plan.json.",
        discussion: """
            Rank r of W takes positions consumed+r, consumed+r+W, ... of the epoch's order \
            (the identity, or with --shuffle a permutation fixed by seed, epoch and count).
            """)

    @Option(help: ArgumentHelp("Number of samples N in the dataset.", valueName: "N"))
    var count: Int

    @Option(help: ArgumentHelp("Number of ranks W.", valueName: "W"))
    var world: Int

    @Option(help: ArgumentHelp("Write only this rank's file (default: every rank).", valueName: "R"))
    var rank: Int?

    @Flag(help: "Shuffle: the epoch's order is a permutation fixed by --seed, --epoch and --count.")
    var shuffle = false

    @Option(help: ArgumentHelp("Shuffle seed (unsigned 64-bit).", valueName: "S"))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Epoch number; each epoch has its own order.", valueName: "E"))
    var epoch: Int = 0

    @Option(help: "exact (every sample once, sizes differ by <= 1), pad (equal sizes, padding masked) or drop (equal sizes, the rest listed in plan.json).")
    var policy: ShardPolicy = .exact

    @Option(help: ArgumentHelp("Positions 0..C-1 of this epoch's order are already done; shard the rest.", valueName: "C"))
    var consumed: Int = 0

    @Option(name: [.customLong("first"), .customLong("limit")], help: ArgumentHelp("Write only the first K entries of each shard (for huge N).", valueName: "K"))
    var first: Int?

    @Option(help: ArgumentHelp("Output directory.", valueName: "DIR"))
    var out: String

    @Option(help: "npy (int64, numpy.load) or json.")
    var format: ShardFormat = .npy

    func run() throws {
        if let rank, rank < 0 || rank >= world, world >= 1 {
            throw ShardError(.badArgument, "--rank \(rank) is not below --world \(world)")
        }
        let plan = try SampleShardPlan(count: count, world: world, shuffle: shuffle, seed: seed,
                                       epoch: epoch, policy: policy, consumed: consumed)
        let ranks = rank.map { [$0] }
        try plan.write(to: out, ranks: ranks, format: format, limit: first)
        let sizes = Set((0..<world).map { plan.count(rank: $0) })
        let written = ranks ?? Array(0..<world)
        let what = written.count == 1 ? "rank \(written[0])'s shard" : "\(written.count) shards"
        var line = "wrote \(what) to \(out): \(plan.remaining) of \(count) samples over \(world) ranks, "
        line += sizes.count == 1 ? "\(sizes.first!) each" : "\(sizes.min()!)-\(sizes.max()!) each"
        if let first { line += " (first \(first) written)" }
        if plan.policy == .drop && !plan.dropped.isEmpty { line += ", \(plan.dropped.count) dropped" }
        if plan.policy == .pad {
            let pads = (0..<world).reduce(0) { $0 + plan.paddingCount(rank: $1) }
            if pads > 0 { line += ", \(pads) padding entries" }
        }
        print(line)
    }
}

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

struct ShardBytesCommand: ParsableCommand, MessagePrefixed {
    static let messagePrefix = "baton shard"
    static let configuration = CommandConfiguration(
        commandName: "bytes",
        abstract: "Split record files into byte ranges, one stretch per rank, cut at record starts.",
        discussion: """
            Cuts fall near total*k/W, moved forward to the next record start, found with a few \
            small reads near each cut (never a scan of the file). Writes DIR/plan.json and \
            DIR/rank-<r>.json, each range {file, start, end} with end exclusive.
            """)

    @Argument(help: "Record files, treated as one concatenation in this order.")
    var paths: [String]

    @Option(help: ArgumentHelp("Number of ranks W.", valueName: "W"))
    var world: Int

    @Option(help: "newline, or fixed:SIZE for SIZE-byte records.")
    var record: String = "newline"

    @Option(help: ArgumentHelp("Output directory.", valueName: "DIR"))
    var out: String

    func run() throws {
        let format = try RecordFormat(parsing: record)
        let started = ContinuousClock.now
        let plan = try ByteRangeShardPlan(paths: paths, world: world, record: format)
        let planned = ContinuousClock.now - started
        try plan.write(to: out)
        let sizes = (0..<world).map { plan.cuts[$0 + 1] - plan.cuts[$0] }
        let empty = sizes.filter { $0 == 0 }.count
        var line = "wrote \(world) byte-range shards to \(out): \(plan.totalBytes) bytes, "
        line += "\(sizes.min()!)-\(sizes.max()!) bytes per rank"
        if empty > 0 { line += ", \(empty) rank\(empty == 1 ? "" : "s") empty (fewer records than ranks)" }
        let ms = Double(planned.components.attoseconds) / 1e15 + Double(planned.components.seconds) * 1e3
        line += "; cuts found in \(String(format: "%.1f", ms)) ms with \(plan.readCount) reads (\(plan.bytesRead) bytes)"
        print(line)
    }
}
