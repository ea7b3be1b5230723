import Testing
@testable import BatonTools

@Suite struct BenchScheduleTests {
    @Test func latencySizesStartAtZeroThenDoubleFromOne() throws {
        #expect(try MessageSizes.doubling(from: 0, to: 8) == [0, 1, 2, 4, 8])
    }

    @Test func defaultRangesMatchOSU() throws {
        let bw = try MessageSizes.doubling(from: 1, to: 4 << 20)
        #expect(bw.first == 1 && bw.last == 4 << 20 && bw.count == 23)
        let lat = try MessageSizes.doubling(from: 0, to: 4 << 20)
        #expect(lat.count == 24)
    }

    @Test func maximumOffTheDoublingSequenceIsNotExceeded() throws {
        #expect(try MessageSizes.doubling(from: 3, to: 20) == [3, 6, 12])
    }

    @Test func maximumBelowMinimumIsRefusedNamingBothOptions() {
        #expect(throws: BenchError.self) { try MessageSizes.doubling(from: 64, to: 8) }
        do {
            _ = try MessageSizes.doubling(from: 64, to: 8)
        } catch {
            #expect(error.description.contains("--max-size") && error.description.contains("--min-size"))
        }
    }

    @Test func byteSizesAcceptBinarySuffixes() {
        #expect(MessageSizes.parseByteSize("4096") == 4096)
        #expect(MessageSizes.parseByteSize("8K") == 8192)
        #expect(MessageSizes.parseByteSize("4M") == 4 << 20)
        #expect(MessageSizes.parseByteSize("1GiB") == 1 << 30)
        #expect(MessageSizes.parseByteSize("64kb") == 65536)
        #expect(MessageSizes.parseByteSize("4X") == nil)
        #expect(MessageSizes.parseByteSize("-1") == nil)
        #expect(MessageSizes.parseByteSize("") == nil)
    }

    @Test func sizeLabelsUseBinaryUnits() {
        #expect(MessageSizes.label(0) == "0 B")
        #expect(MessageSizes.label(512) == "512 B")
        #expect(MessageSizes.label(4096) == "4 KiB")
        #expect(MessageSizes.label(3 << 19) == "1.5 MiB")
    }

    @Test func iterationCountsSwitchToOSULargeCountsAbove8KiB() {
        #expect(IterationPlan.osu(.latency, size: 8192) == IterationPlan(iterations: 10000, warmup: 100))
        #expect(IterationPlan.osu(.latency, size: 8193) == IterationPlan(iterations: 1000, warmup: 10))
        #expect(IterationPlan.osu(.bandwidth, size: 1) == IterationPlan(iterations: 100, warmup: 10))
        #expect(IterationPlan.osu(.bandwidth, size: 1 << 20) == IterationPlan(iterations: 20, warmup: 2))
        #expect(IterationPlan.osu(.collective, size: 8) == IterationPlan(iterations: 1000, warmup: 100))
        #expect(IterationPlan.osu(.collective, size: 1 << 20) == IterationPlan(iterations: 100, warmup: 10))
    }

    @Test func userIterationOverridesReplaceOnlyWhatWasGiven() {
        let plan = IterationPlan.resolve(.latency, size: 1, iterations: 7, warmup: nil)
        #expect(plan == IterationPlan(iterations: 7, warmup: 100))
    }

    @Test func pointToPointNeedsTwoRanks() {
        let options = PointToPointOptions(test: .latency, sizes: [0])
        #expect(throws: BenchError.self) { try options.validate(ranks: 1) }
        #expect(throws: Never.self) { try options.validate(ranks: 2) }
    }
}
