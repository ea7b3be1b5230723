@testable import BatonProtocol
import Foundation
import Testing

@Suite("run directory")
struct RunDirectoryTests {
    static let begin = "<!-- run-directory:begin -->"
    static let end = "<!-- run-directory:end -->"

    static var architecturePage: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/ARCHITECTURE.md").path
    }

    @Test("docs/ARCHITECTURE.md carries the layout RunDirectory.schema renders (BATON_UPDATE_DOCS=1 rewrites it)")
    func schemaIsDocumented() throws {
        let path = Self.architecturePage
        let page = try String(contentsOfFile: path, encoding: .utf8)
        let start = try #require(page.range(of: Self.begin), "no \(Self.begin) in \(path)")
        let stop = try #require(page.range(of: Self.end, range: start.upperBound..<page.endIndex), "no \(Self.end) in \(path)")
        let expected = "\n" + RunDirectory.renderSchema() + "\n"
        let documented = String(page[start.upperBound..<stop.lowerBound])
        if documented != expected, ProcessInfo.processInfo.environment["BATON_UPDATE_DOCS"] == "1" {
            try (page[..<start.upperBound] + expected + page[stop.lowerBound...]).write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        #expect(documented == expected, "docs/ARCHITECTURE.md's run-directory section is stale; run the test with BATON_UPDATE_DOCS=1")
    }

    @Test("every path of a run is spelled under its root, as the runs on disk have it")
    func pathsKeepTheirNames() {
        let run = RunDirectory("/r")
        #expect(run.launchStore == "/r/launch.sqlite" && run.gridStore == "/r/grid.sqlite" && run.settings == "/r/launch.json")
        #expect(run.events == "/r/events.jsonl" && run.report == "/r/report.json" && run.headPID == "/r/head.pid")
        #expect(run.headLog == "/r/head.log" && run.stopRequest == "/r/stop-requested" && run.exactlyOnce == "/r/exactly-once.json")
        #expect(run.attemptPlan(3) == "/r/attempts/attempt-3.plan.json" && run.attemptRecord(3) == "/r/attempts/attempt-3.record.json")
        #expect(run.headChannel(3) == "/r/attempts/attempt-3.head" && run.attemptTranscript(3) == "/r/attempts/attempt-3.transcript.jsonl")
        #expect(run.shards(2) == "/r/shards/attempt-2" && run.rankMetrics(2, rank: 5) == "/r/metrics/attempt-2/rank-5.jsonl")
        #expect(run.rankLog(node: "n1", rank: 5) == "/r/logs/n1.5.log" && run.checkpoints == "/r/checkpoints")
        #expect(run.configCheckpoint("c1") == "/r/configs/c1/checkpoint" && run.configAttemptLog("c1", attempt: 2) == "/r/configs/c1/attempt-2.log")
        #expect(run.configAttemptMetrics("c1", attempt: 2) == "/r/configs/c1/attempt-2.metrics.jsonl")
        #expect(run.configAttemptLaunch("c1", attempt: 2).report == "/r/configs/c1/mpirun/attempt-2/report.json")
        #expect(run.nodeDown("local-1") == "/r/nodes/local-1.down" && run.snapshots == "/r/snapshots")
        #expect(RunDirectory.localSession(in: run.local, node: "local-0") == "/r/local/local-0.sid")
        #expect(RunDirectory("/r/").events == "/r/events.jsonl")
        #expect(RunDirectory.Relative.attemptNumber(planFile: "attempt-12.plan.json") == 12)
        #expect(RunDirectory.Relative.attemptNumber(planFile: "attempt-12.record.json") == nil)
    }
}
