import Testing
@testable import BatonTools
import BatonSupport

@Suite struct BenchMatrixTests {
    /// A symmetric matrix from a function of the pair.
    func matrix(_ names: [String], bandwidth: (Int, Int) -> Double, latency: (Int, Int) -> Double = { _, _ in 10 }) -> PairMatrix {
        let n = names.count
        var bw = [[Double?]](repeating: [Double?](repeating: nil, count: n), count: n)
        var lat = bw
        for i in 0..<n {
            for j in 0..<n where i != j {
                bw[i][j] = bandwidth(min(i, j), max(i, j))
                lat[i][j] = latency(min(i, j), max(i, j))
            }
        }
        return PairMatrix(nodes: names, bandwidthGBps: bw, latencyMicroseconds: lat)
    }

    @Test func throttledNodeOfThreeStandsOutThoughItsPairsAreTheMajority() {
        // node2's link is slowed: two of the three pairs are slow, so a plain median
        // over pairs would call the slow figure normal.
        let m = matrix(["node0", "node1", "node2"]) { i, j in j == 2 ? 0.012 : 2.0 }
        let f = m.findings()
        #expect(f.nodes.map(\.labels) == [["node2"]])
        #expect(Set(f.pairs.map(\.labels)) == [["node0", "node2"], ["node1", "node2"]])
    }

    @Test func oneBadCableFlagsOnlyThatPair() {
        let m = matrix(["a", "b", "c", "d"]) { i, j in (i, j) == (0, 1) ? 0.3 : 2.0 }
        let f = m.findings()
        #expect(f.nodes.isEmpty)
        #expect(f.pairs.map(\.labels) == [["a", "b"]])
    }

    @Test func evenLinksFlagNothing() {
        let m = matrix(["a", "b", "c", "d", "e"]) { i, j in 2.0 + Double(i + j) * 0.05 }
        #expect(m.findings().isEmpty)
    }

    @Test func aLinkSlowOneWayIsJudgedByItsSlowerDirection() {
        var m = matrix(["a", "b", "c", "d"]) { _, _ in 2.0 }
        m.bandwidthGBps[2][3] = 0.1
        let f = m.findings()
        #expect(f.pairs.map(\.labels) == [["c", "d"]])
        #expect(f.pairs.first?.value == 0.1)
    }

    @Test func highLatencyNodeIsFlaggedOnLatency() {
        let m = matrix(["a", "b", "c"], bandwidth: { _, _ in 2.0 }, latency: { i, j in i == 1 || j == 1 ? 400 : 20 })
        let f = m.findings()
        #expect(f.nodes.map(\.labels) == [["b"]])
        #expect(f.nodes.first?.metric == .latency)
    }

    @Test func twoNodesGiveNoReferenceAndNoVerdict() {
        let m = matrix(["a", "b"]) { _, _ in 0.001 }
        #expect(m.findings().isEmpty)
    }

    @Test func medianOfEvenCountIsMeanOfMiddleTwo() {
        #expect(PairMatrix.median([4, 1, 3, 2]) == 2.5)
        #expect(PairMatrix.median([5]) == 5)
        #expect(PairMatrix.median([]) == nil)
    }

    @Test func tableNamesTheSlowNode() {
        let m = matrix(["node0", "node1", "node2"]) { i, j in j == 2 ? 0.012 : 2.0 }
        let text = PairMatrixBench.table(m, findings: m.findings())
        #expect(text.contains("SLOW NODE  node node2"))
        #expect(text.contains("bandwidth (GB/s, 1 GB = 1e9 bytes)"))
    }

    @Test func anAbsoluteFloorJudgesNodesByTheirMedianLinkAndEveryPair() {
        // node2 throttled: its median link is under 0.5 GB/s; a lone slow cable (node0-node1)
        // makes a slow pair, not a slow node, though with node2's link node0's median is
        // under the floor too: node2's links are set aside first.
        let m = matrix(["node0", "node1", "node2", "node3"]) { i, j in j == 2 || i == 2 ? 0.012 : (i, j) == (0, 1) ? 0.3 : 2.0 }
        let f = m.findings(minBandwidthGBps: 0.5)
        #expect(f.nodes.map(\.labels) == [["node2"]])
        #expect(f.nodes.first?.isFloor == true && f.nodes.first?.reference == 0.5 && f.nodes.first?.value == 0.012)
        #expect(Set(f.pairs.map(\.labels)) == [["node0", "node1"], ["node0", "node2"], ["node1", "node2"], ["node2", "node3"]])
        #expect(f.nodes.first?.description == "node node2: bandwidth 0.012 GB/s, under the floor 0.500 GB/s")
    }

    @Test func anAbsoluteFloorJudgesTwoNodesAndAFabricSlowAsAWhole() {
        // No median to compare with, or every link equally slow: the floor still decides.
        let two = matrix(["a", "b"]) { _, _ in 0.001 }
        #expect(two.findings(minBandwidthGBps: 0.5).nodes.map(\.labels) == [["a"], ["b"]])
        #expect(two.findings(minBandwidthGBps: 0.5).pairs.count == 1)
        let even = matrix(["a", "b", "c", "d"]) { _, _ in 0.1 }
        #expect(even.findings().isEmpty)
        #expect(even.findings(minBandwidthGBps: 1).nodes.count == 4)
        #expect(even.findings(minBandwidthGBps: 0.05).isEmpty)
    }

    @Test func ratesAreSpelledWithTheirUnit() {
        #expect(BandwidthRate.gigabytesPerSecond("2GB/s") == 2)
        #expect(BandwidthRate.gigabytesPerSecond("500 MB/s") == 0.5)
        #expect(BandwidthRate.gigabytesPerSecond("100Gbit/s") == 12.5)
        #expect(BandwidthRate.gigabytesPerSecond("100Gb/s") == 12.5)
        #expect(BandwidthRate.gigabytesPerSecond("400Mbit/s") == 0.05)
        for bad in ["2", "2GB", "-1GB/s", "0GB/s", "fastGB/s", "50%"] { #expect(BandwidthRate.gigabytesPerSecond(bad) == nil) }
    }
}
