import Testing
@testable import BatonTrainer

@Suite("Shard permutation")
struct ShardPermutationTests {
    @Test func isABijectionForSmallAwkwardAndPowerOfTwoSizes() {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 100, 127, 128, 129, 1000, 1023, 1024, 1025, 4097] {
            for seed: UInt64 in [0, 1, 0xdead_beef] {
                let p = ShardPermutation(count: n, shuffled: true, seed: seed, epoch: 3)
                let image = (0..<n).map { p.sample(at: $0) }
                #expect(image.sorted() == Array(0..<n), "N=\(n) seed=\(seed)")
            }
        }
    }

    @Test func identityWhenNotShuffled() {
        let p = ShardPermutation(count: 50, shuffled: false, seed: 9)
        #expect((0..<50).map { p.sample(at: $0) } == Array(0..<50))
    }

    /// Pins the algorithm: a change of any constant changes these, and with them every
    /// shuffled plan users have written (docs/sharding.md documents "feistel-splitmix64-v1").
    @Test func orderIsFixedBySeedEpochAndCountAcrossRunsAndMachines() {
        let p = ShardPermutation(count: 10, shuffled: true, seed: 7, epoch: 0)
        #expect((0..<10).map { p.sample(at: $0) } == [2, 3, 9, 5, 6, 7, 1, 4, 0, 8])
        let big = ShardPermutation(count: 10_000_000_000, shuffled: true, seed: 42, epoch: 1)
        #expect((0..<4).map { big.sample(at: $0) } == [3_186_280_051, 8_627_859_469, 9_468_091_577, 2_251_171_020])
    }

    @Test func differentEpochsSeedsAndCountsGiveDifferentOrders() {
        let n = 1000
        let base = ShardPermutation(count: n, shuffled: true, seed: 1, epoch: 0)
        let others = [
            ShardPermutation(count: n, shuffled: true, seed: 1, epoch: 1),
            ShardPermutation(count: n, shuffled: true, seed: 2, epoch: 0),
        ]
        for o in others {
            let same = (0..<n).filter { base.sample(at: $0) == o.sample(at: $0) }.count
            // Two independent permutations agree in about one place; 10 would be a broken key schedule.
            #expect(same < 10)
        }
    }

    @Test func fillMatchesPerPositionEvaluation() {
        let p = ShardPermutation(count: 12345, shuffled: true, seed: 99, epoch: 2)
        var out = [Int64](repeating: -1, count: 500)
        out.withUnsafeMutableBufferPointer { p.fill($0, start: 7, stride: 24) }
        #expect(out.map { Int($0) } == (0..<500).map { p.sample(at: 7 + $0 * 24) })
    }

    // MARK: Shuffle quality (fixed seeds, so these are deterministic)

    /// Pearson's chi-square of observed counts against a uniform expectation.
    static func chiSquare(_ counts: [Int]) -> Double {
        let expected = Double(counts.reduce(0, +)) / Double(counts.count)
        return counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
    }

    @Test func whereOnePositionLandsIsUniformOverSeeds() {
        // For positions at the start, middle and end, where they land over 4000 seeds,
        // in 20 buckets: chi-square with 19 degrees of freedom; 43.82 is its 0.001 tail.
        let n = 1000, seeds = 4000, buckets = 20
        for position in [0, 1, 499, 998, 999] {
            var counts = [Int](repeating: 0, count: buckets)
            for s in 0..<seeds {
                let p = ShardPermutation(count: n, shuffled: true, seed: UInt64(s), epoch: 0)
                counts[p.sample(at: position) * buckets / n] += 1
            }
            #expect(Self.chiSquare(counts) < 43.82, "position \(position): \(counts)")
        }
    }

    @Test func positionAndSampleAreIndependentWithinOneEpoch() {
        // 10 x 10 table of (position decile, sample decile) for N = 100000: chi-square with
        // 81 degrees of freedom; 124.8 is its 0.001 tail. A rank's stripe must not favour
        // any part of the dataset, so the same table is checked for rank 3 of 8 alone.
        let n = 100_000
        let p = ShardPermutation(count: n, shuffled: true, seed: 2024, epoch: 5)
        var table = [Int](repeating: 0, count: 100)
        var stripe = [Int](repeating: 0, count: 10)
        for pos in 0..<n {
            let s = p.sample(at: pos)
            table[(pos * 10 / n) * 10 + s * 10 / n] += 1
            if pos % 8 == 3 { stripe[s * 10 / n] += 1 }
        }
        #expect(Self.chiSquare(table) < 124.8)
        // 9 degrees of freedom, 0.001 tail 27.88.
        #expect(Self.chiSquare(stripe) < 27.88)
    }

    @Test func neighbouringPositionsAreNotCorrelated() {
        // Ascents between consecutive positions: mean (N-1)/2, variance (N+1)/12 for a
        // random permutation. Allow 5 standard deviations.
        let n = 100_000
        let p = ShardPermutation(count: n, shuffled: true, seed: 77, epoch: 0)
        var ascents = 0
        var previous = p.sample(at: 0)
        var displacement = 0.0
        for pos in 1..<n {
            let s = p.sample(at: pos)
            if s > previous { ascents += 1 }
            previous = s
            displacement += Double(abs(s - pos))
        }
        let sd = (Double(n + 1) / 12).squareRoot()
        #expect(abs(Double(ascents) - Double(n - 1) / 2) < 5 * sd)
        // Mean |sample - position| of a random permutation is (N^2 - 1) / (3N), about N/3.
        let meanDisplacement = displacement / Double(n - 1)
        #expect(abs(meanDisplacement - Double(n) / 3) < Double(n) * 0.01)
    }
}
