import Testing
@testable import BatonTools

@Suite struct BenchArithmeticTests {
    @Test func busBandwidthFactorsAreNcclTests() {
        #expect(CollectiveKind.allreduce.busBandwidthFactor(ranks: 4) == 1.5)
        #expect(CollectiveKind.allgather.busBandwidthFactor(ranks: 4) == 0.75)
        #expect(CollectiveKind.reducescatter.busBandwidthFactor(ranks: 8) == 0.875)
        #expect(CollectiveKind.alltoall.busBandwidthFactor(ranks: 2) == 0.5)
        #expect(CollectiveKind.bcast.busBandwidthFactor(ranks: 16) == 1)
        #expect(CollectiveKind.allreduce.busBandwidthFactor(ranks: 1) == 0)
    }

    @Test func algbwIsBytesOverTimeInDecimalGigabytes() {
        // 1e6 bytes in 100 µs is 10 GB/s; allreduce on 4 ranks carries 1.5x that.
        let bw = CollectiveRow.bandwidths(kind: .allreduce, ranks: 4, bytes: 1_000_000, timeMicroseconds: 100)
        #expect(abs(bw.algbw - 10) < 1e-9)
        #expect(abs(bw.busbw - 15) < 1e-9)
    }

    @Test func gatheringKindsCountTheWholeArrayInWholeBlocks() {
        let shape = CollectiveShape.of(.allgather, sizeBytes: 1000, ranks: 3, elementSize: 4)
        // 1000 B / 4 B / 3 ranks = 83 floats per rank: 996 bytes counted.
        #expect(shape == CollectiveShape(blockCount: 83, totalCount: 249, bytes: 996))
        let tiny = CollectiveShape.of(.alltoall, sizeBytes: 8, ranks: 4, elementSize: 4)
        #expect(tiny.blockCount == 1 && tiny.bytes == 16)
        let ar = CollectiveShape.of(.allreduce, sizeBytes: 8, ranks: 4, elementSize: 4)
        #expect(ar == CollectiveShape(blockCount: 2, totalCount: 2, bytes: 8))
    }

    @Test func latencyIsHalfTheRoundTrip() {
        // 1000 round trips in 2 ms: 2 µs per round trip, 1 µs latency.
        #expect(abs(PointToPointBench.latencyMicroseconds(seconds: 0.002, iterations: 1000) - 1) < 1e-12)
    }

    @Test func windowedBandwidthCountsEveryMessageAndBothDirectionsForBibw() {
        let one = PointToPointBench.bandwidthGBps(size: 1 << 20, iterations: 10, window: 64, seconds: 0.5)
        #expect(abs(one - Double(1 << 20) * 640 / 0.5 / 1e9) < 1e-9)
        let both = PointToPointBench.bandwidthGBps(size: 1 << 20, iterations: 10, window: 64, seconds: 0.5, directions: 2)
        #expect(abs(both - 2 * one) < 1e-9)
        #expect(PointToPointBench.bandwidthGBps(size: 1, iterations: 1, window: 1, seconds: 0) == 0)
    }

    @Test func correctnessPatternSumsStayExactInFloat() {
        // The largest sum the pattern can give on 4096 ranks fits float's 24-bit mantissa.
        var total: Float = 0
        for r in 0..<4096 { total += CollectiveBench.pattern(rank: r, index: 250) }
        #expect(total == Float((1...4096).reduce(0, +) + 4096 * 250))
    }

    func row(_ busbw: Double, wrong: Int = 0) -> CollectiveRow {
        CollectiveRow(
            sizeBytes: 8, count: 2, inPlace: false, iterations: 1, timeMinMicroseconds: 1, timeMicroseconds: 1,
            timeMaxMicroseconds: 1, algorithmBandwidthGBps: busbw, busBandwidthGBps: busbw, wrong: wrong)
    }

    @Test func gateFailsUnderTheMinimumAverageBusBandwidth() {
        let result = CollectiveResult(kind: .allreduce, ranks: 2, rows: [row(1), row(3)])
        #expect(result.averageBusBandwidthGBps == 2)
        #expect(BenchGate(minimumBusBandwidthGBps: 2.5).failures(result).count == 1)
        #expect(BenchGate(minimumBusBandwidthGBps: 2).failures(result).isEmpty)
        #expect(BenchGate(minimumBusBandwidthGBps: nil).failures(result).isEmpty)
    }

    @Test func gateFailsOnWrongElementsEvenWithoutAMinimum() {
        let result = CollectiveResult(kind: .allreduce, ranks: 2, rows: [row(5, wrong: 3)])
        let failures = BenchGate(minimumBusBandwidthGBps: nil).failures(result)
        #expect(failures.count == 1 && failures[0].contains("3 wrong"))
    }
}
