import Foundation

/// Connects launch to the sharding module: writes `rank-<r>.npy` for an attempt.
public enum ShardHook {
    public static func writer(samples: Int, shuffle: Bool, seed: UInt64, epoch: Int)
        -> @Sendable (_ world: Int, _ consumed: Int, _ dir: String) throws -> Void
    {
        return { world, consumed, dir in
            throw LaunchError.cannotStart("sharding is not available in this build")
        }
    }
}
