import BatonShard
import BatonTrainer
import Foundation

/// Connects launch to the sharding module: before each attempt the samples of the epoch not
/// yet consumed are re-sharded for that attempt's world (`SampleShardPlan` with `consumed`),
/// written as `<run>/shards/attempt-<a>/rank-<r>.npy` + `plan.json`.
enum ShardHook {
    static func writer(samples: Int, shuffle: Bool, seed: UInt64, epoch: Int)
        -> @Sendable (_ world: Int, _ consumed: Int, _ dir: String) throws -> Void
    {
        return { world, consumed, dir in
            let plan = try SampleShardPlan(count: samples, world: world, shuffle: shuffle, seed: seed, epoch: epoch,
                                           policy: .exact, consumed: min(consumed, samples))
            try plan.write(to: dir)
        }
    }
}
