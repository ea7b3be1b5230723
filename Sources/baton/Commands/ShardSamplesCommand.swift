import ArgumentParser
import BatonShard
import BatonSupport
import BatonTrainer
import Foundation

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
