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
