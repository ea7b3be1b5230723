import Foundation

/// A fixed-seed generator so every property test sees the same "random" cases on every run.
struct ShardTestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A fresh empty temporary directory path (not created), removed by `cleanUp`.
struct ShardTempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "/baton-shard-test-\(UUID().uuidString)"
    }
    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
    func exists(_ name: String = "") -> Bool {
        FileManager.default.fileExists(atPath: name.isEmpty ? path : path + "/" + name)
    }
}
