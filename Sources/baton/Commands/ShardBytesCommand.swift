import ArgumentParser
import BatonShard
import BatonSupport
import BatonTrainer
import Foundation

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
