import Foundation
import Testing
@testable import BatonTrainer
@testable import BatonShard

@Suite("Sample sharding")
struct ShardSampleTests {
    /// Random (N, W, consumed) cases, with N = 1, N < W and N = W among them.
    static func cases() -> [(n: Int, w: Int, consumed: Int, seed: UInt64, epoch: Int)] {
        var rng = ShardTestRNG(seed: 42)
        var out: [(Int, Int, Int, UInt64, Int)] = [(1, 1, 0, 0, 0), (1, 5, 0, 3, 1), (3, 8, 1, 9, 0), (8, 8, 0, 1, 2), (7, 7, 7, 5, 0)]
        for _ in 0..<150 {
            let n = Int.random(in: 1...600, using: &rng)
            let w = Int.random(in: 1...40, using: &rng)
            let consumed = Bool.random(using: &rng) ? 0 : Int.random(in: 0...n, using: &rng)
            out.append((n, w, consumed, rng.next(), Int.random(in: 0...5, using: &rng)))
        }
        return out
    }

    @Test func exactPolicyHandsOutEveryRemainingSampleOnceWithSizesWithinOne() throws {
        for c in Self.cases() {
            for shuffle in [false, true] {
                let plan = try SampleShardPlan(count: c.n, world: c.w, shuffle: shuffle, seed: c.seed, epoch: c.epoch, consumed: c.consumed)
                var seen = (0..<c.consumed).map { plan.permutation.sample(at: $0) }
                var sizes: [Int] = []
                for r in 0..<c.w {
                    let shard = plan.indices(rank: r)
                    #expect(shard.count == plan.count(rank: r))
                    seen += shard
                    sizes.append(shard.count)
                }
                #expect(seen.sorted() == Array(0..<c.n), "N=\(c.n) W=\(c.w) consumed=\(c.consumed) shuffle=\(shuffle)")
                #expect(sizes.max()! - sizes.min()! <= 1)
                #expect(sizes.reduce(0, +) == c.n - c.consumed)
            }
        }
    }

    @Test func rankTakesEveryWthPositionOfTheRemainingOrder() throws {
        let plan = try SampleShardPlan(count: 103, world: 5, shuffle: true, seed: 11, consumed: 17)
        for r in 0..<5 {
            let expected = stride(from: 17 + r, to: 103, by: 5).map { plan.permutation.sample(at: $0) }
            #expect(plan.indices(rank: r) == expected)
        }
    }

    @Test func padPolicyGivesEqualSizesAndMarksOnlyTheRepeats() throws {
        for c in Self.cases() {
            let plan = try SampleShardPlan(count: c.n, world: c.w, shuffle: true, seed: c.seed, policy: .pad, consumed: c.consumed)
            let m = c.n - c.consumed
            var real: [Int] = []
            var padding = 0
            for r in 0..<c.w {
                let shard = plan.indices(rank: r)
                #expect(shard.count == (m + c.w - 1) / c.w)
                for (i, s) in shard.enumerated() {
                    if plan.isPadding(rank: r, position: i) { padding += 1 } else { real.append(s) }
                }
            }
            let remaining = (c.consumed..<c.n).map { plan.permutation.sample(at: $0) }
            #expect(real.sorted() == remaining.sorted())
            #expect(padding == (m == 0 ? 0 : (m + c.w - 1) / c.w * c.w - m))
        }
    }

    @Test func dropPolicyGivesEqualSizesAndListsExactlyTheLeftOutSamples() throws {
        for c in Self.cases() {
            let plan = try SampleShardPlan(count: c.n, world: c.w, shuffle: true, seed: c.seed, policy: .drop, consumed: c.consumed)
            let m = c.n - c.consumed
            var all = plan.dropped
            #expect(plan.dropped.count == m % c.w)
            for r in 0..<c.w {
                let shard = plan.indices(rank: r)
                #expect(shard.count == m / c.w)
                all += shard
            }
            let remaining = (c.consumed..<c.n).map { plan.permutation.sample(at: $0) }
            #expect(all.sorted() == remaining.sorted())
        }
    }

    @Test func resumingOnAnotherWorldSizeSeesEverySampleExactlyOnce() throws {
        var rng = ShardTestRNG(seed: 7)
        for _ in 0..<120 {
            let n = Int.random(in: 1...500, using: &rng)
            let oldW = Int.random(in: 1...16, using: &rng)
            let newW = Int.random(in: 1...16, using: &rng)
            let seed = rng.next()
            let epoch = Int.random(in: 0...3, using: &rng)
            let before = try SampleShardPlan(count: n, world: oldW, shuffle: true, seed: seed, epoch: epoch)
            // Every old rank finished k steps of one sample (the launcher's consumed = k * W).
            let k = Int.random(in: 0...(before.count(rank: oldW - 1)), using: &rng)
            var seen: [Int] = []
            for r in 0..<oldW { seen += before.indices(rank: r, limit: k) }
            let after = try SampleShardPlan(count: n, world: newW, shuffle: true, seed: seed, epoch: epoch, consumed: k * oldW)
            for r in 0..<newW { seen += after.indices(rank: r) }
            #expect(seen.sorted() == Array(0..<n), "N=\(n) W \(oldW)->\(newW) k=\(k)")
        }
    }

    @Test func resumingTwiceStillSeesEverySampleOnce() throws {
        let n = 1000, seed: UInt64 = 5
        let a = try SampleShardPlan(count: n, world: 8, shuffle: true, seed: seed)
        var seen: [Int] = []
        for r in 0..<8 { seen += a.indices(rank: r, limit: 30) }
        let b = try SampleShardPlan(count: n, world: 3, shuffle: true, seed: seed, consumed: 240)
        for r in 0..<3 { seen += b.indices(rank: r, limit: 100) }
        let c = try SampleShardPlan(count: n, world: 5, shuffle: true, seed: seed, consumed: 540)
        for r in 0..<5 { seen += c.indices(rank: r) }
        #expect(seen.sorted() == Array(0..<n))
    }

    @Test func parallelFillGivesTheSameEntriesAsOneThread() throws {
        let plan = try SampleShardPlan(count: 600_001, world: 2, shuffle: true, seed: 4, policy: .pad, consumed: 2)
        let n = plan.count(rank: 1)
        var one = [Int64](repeating: -1, count: n)
        var many = [Int64](repeating: -2, count: n)
        one.withUnsafeMutableBufferPointer { plan.fill(rank: 1, from: 0, into: $0) }
        many.withUnsafeMutableBufferPointer { plan.parallelFill(rank: 1, from: 0, into: $0) }
        #expect(one == many)
        #expect(plan.isPadding(rank: 1, position: n - 1))
    }

    @Test func rejectsBadNumbersWithMessagesNamingTheValue() {
        func message(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let e as ShardError { return e.description } catch { return "\(error)" }
        }
        #expect(message { _ = try SampleShardPlan(count: 0, world: 4) }?.contains("sample count is 0") == true)
        #expect(message { _ = try SampleShardPlan(count: 10, world: 0) }?.contains("world size is 0") == true)
        #expect(message { _ = try SampleShardPlan(count: 10, world: 2, consumed: 11) }?.contains("consumed is 11") == true)
        #expect(message { _ = try SampleShardPlan(count: 10, world: 2, epoch: -1) }?.contains("epoch is -1") == true)
        #expect(message { _ = try SampleShardPlan(count: 10, world: 2, consumed: -1) } != nil)
    }
}
