import Foundation
import Testing
@testable import BatonSupport
@testable import BatonTools

@Suite struct BenchReportTests {
    let collective = CollectiveResult(
        kind: .allreduce, ranks: 4,
        rows: [
            CollectiveRow(
                sizeBytes: 1024, count: 256, inPlace: false, iterations: 10, timeMinMicroseconds: 1, timeMicroseconds: 2,
                timeMaxMicroseconds: 3, algorithmBandwidthGBps: 0.512, busBandwidthGBps: 0.768, wrong: 0),
            CollectiveRow(
                sizeBytes: 1024, count: 256, inPlace: true, iterations: 10, timeMinMicroseconds: 1, timeMicroseconds: 4,
                timeMaxMicroseconds: 5, algorithmBandwidthGBps: 0.256, busBandwidthGBps: 0.384, wrong: 2),
        ])

    @Test func collectiveJSONHasTheDocumentedKeysAndParses() throws {
        let text = BenchReport.json(collective)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["suite"] as? String == "allreduce")
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.count == 2)
        for key in ["size_bytes", "time_us", "algbw_GBps", "busbw_GBps", "wrong", "in_place"] {
            #expect(rows[0][key] != nil, "missing \(key)")
        }
        #expect(rows[1]["wrong"] as? Int == 2)
        #expect(object["wrong"] as? Int == 2)
    }

    @Test func pointToPointJSONUsesLatencyOrBandwidthKey() throws {
        let lat = PointToPointResult(test: .latency, ranks: 2, window: 1, rows: [PointToPointRow(sizeBytes: 0, iterations: 5, latencyMicroseconds: 0.25)])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(BenchReport.json(lat).utf8)) as? [String: Any])
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows[0]["latency_us"] as? Double == 0.25)
        #expect(rows[0]["bandwidth_GBps"] == nil)
    }

    @Test func csvHasAHeaderAndOneLinePerRow() {
        let lines = BenchReport.csv(collective).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("size_bytes,count,in_place"))
        #expect(lines[2].hasSuffix(",2"))
    }

    @Test func tableShowsTheFooterVerdictAndUnits() {
        let table = BenchReport.table(collective)
        #expect(table.contains("Out of bounds values : 2 WRONG"))
        #expect(table.contains("GB/s (1 GB = 1e9 bytes)"))
        #expect(table.contains("in-place"))
    }

    @Test func jsonStringsAreEscaped() {
        #expect(BenchJSON.string("a\"b\\c\n").rendered(pretty: false) == #""a\"b\\c\n""#)
        #expect(BenchJSON.double(.nan).rendered(pretty: false) == "null")
    }

    @Test func plotHasLogAxesWithUnitsAndOneCurvePerPlacement() throws {
        let svg = try BenchPlot.of(collective).svg()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("time per call (µs), log scale"))
        #expect(svg.contains("bus bandwidth (GB/s"))
        #expect(svg.contains("message size (bytes, log scale)"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 4)
    }

    @Test func plotOfBarrierIsRefused() {
        let barrier = CollectiveResult(kind: .barrier, ranks: 2, rows: [])
        #expect(throws: BenchError.self) { try BenchPlot.of(barrier) }
    }

    @Test func sizeAxisLabelsAtMostNineTicks() {
        let ticks = BenchPlot.sizeTicks(minimum: 1, maximum: 4 << 20)
        #expect(ticks.grid.count == 23)
        #expect(ticks.labelled.count <= 9)
        #expect(ticks.labelled.last == 4 << 20)
    }

    @Test func valueAxisCoversEveryValueInWholeDecades() {
        let d = BenchPlot.decades([0.27, 15.2])
        #expect(d.low <= -1 && d.high >= 2)
    }
}
