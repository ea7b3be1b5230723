import BatonProtocol
import Foundation
import Testing
@testable import BatonLaunch
@testable import BatonReports
@testable import BatonRuns

/// Run directories as `launch --resume`, `runs`, `status` and `logs` read them, made by hand
/// (the integration test 62 makes them for real).
/// The resume point both run-directory fixtures (old files, and the store) describe: attempt
/// 1 lost node b, attempt 2 on a and c reached 420 samples, then its head was killed.
func expectHeadLostAfterTwoAttempts(_ dir: String) throws {
    let p = try LaunchResumePoint.read(runDir: dir)
    #expect(p.lastAttempt == 2)
    #expect(p.hosts.names == ["a", "c"])
    #expect(p.consumed == 420)
    #expect(p.records.map(\.outcome) == [.nodesLost, .headLost])
    #expect(!p.completed)
}

@Suite("Run files")
struct RunFilesTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "baton-runfiles-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "\(dir)/attempts", withIntermediateDirectories: true)
        return dir
    }

    func writePlan(_ dir: String, attempt: Int, hosts: [String]) throws {
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: dir, batonPath: "/usr/bin/baton")
        let list = HostList(hosts: hosts.map { BatonProtocol.Host(name: $0, slots: 2) })
        try planner.plan(hosts: list, attempt: attempt, shardDir: nil).json()
            .write(toFile: "\(dir)/attempts/attempt-\(attempt).plan.json", atomically: true, encoding: .utf8)
    }

    @Test("resume point: after the last attempt, on its nodes less the lost, from the most consumed; a killed head's attempt is 'head lost'")
    func resumePoint() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writePlan(dir, attempt: 1, hosts: ["a", "b", "c"])
        var r1 = AttemptRecord(attempt: 1, nodes: ["a", "b", "c"], worldSize: 6)
        r1.outcome = .nodesLost
        r1.lost = [LostNode(node: "b", ranks: [2, 3], signal: .agentEnded, cause: "x", detectionSeconds: 0.1)]
        LaunchRunFiles.recordAttempt(r1, runDir: dir)
        try writePlan(dir, attempt: 2, hosts: ["a", "c"])
        try FileManager.default.createDirectory(atPath: "\(dir)/metrics/attempt-2", withIntermediateDirectories: true)
        try "{\"consumed\": 300}\n{\"consumed\": 420}\n{\"cons".write(toFile: "\(dir)/metrics/attempt-2/rank-0.jsonl", atomically: true, encoding: .utf8)
        try "{\"event\":\"restart\",\"consumed\":250,\"time\":1}\n".write(toFile: "\(dir)/events.jsonl", atomically: true, encoding: .utf8)

        try expectHeadLostAfterTwoAttempts(dir)
        #expect(RunSummary.read(dir)?.state == .headLost)

        // The attempt-2 record says it lost c: the resumed head starts on a alone.
        var r2 = AttemptRecord(attempt: 2, nodes: ["a", "c"], worldSize: 4)
        r2.outcome = .nodesLost
        r2.lost = [LostNode(node: "c", ranks: [2, 3], signal: .heartbeatTimeout, cause: "x", detectionSeconds: 3)]
        LaunchRunFiles.recordAttempt(r2, runDir: dir)
        #expect(try LaunchResumePoint.read(runDir: dir).hosts.names == ["a"])
    }

    @Test("a run whose report says it completed after its last attempt is not resumed; an empty directory is bad input")
    func completedAndEmpty() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: LaunchError.self) { try LaunchResumePoint.read(runDir: dir) }
        try writePlan(dir, attempt: 1, hosts: ["a"])
        var r = AttemptRecord(attempt: 1, nodes: ["a"], worldSize: 2)
        r.outcome = .completed
        let report = LaunchReport(result: .completed, reason: "ok", attempts: [r], exitCode: 0, lastConsumed: nil)
        try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: "\(dir)/report.json"))
        #expect(try LaunchResumePoint.read(runDir: dir).completed)
        #expect(RunSummary.read(dir)?.state == .done)
        // A later attempt than the report knows (a resumed head killed): not completed.
        try writePlan(dir, attempt: 2, hosts: ["a"])
        #expect(try !LaunchResumePoint.read(runDir: dir).completed)
        #expect(RunSummary.read(dir)?.state == .headLost)
    }

    @Test("launch.json is written once: a resumed head keeps the command line the run was started with")
    func settingsOnce() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try LaunchRunFiles.recordSettings(.init(arguments: ["--local", "2", "--shard-samples", "600", "--", "t", "--shard-samples", "9"],
                                                directory: "/x", created: 5), runDir: dir)
        try LaunchRunFiles.recordSettings(.init(arguments: ["--resume", dir], directory: "/y", created: 6), runDir: dir)
        let s = try #require(LaunchRunFiles.settings(dir))
        #expect(s.directory == "/x")
        #expect(RunSummary.option("--shard-samples", in: s.arguments) == "600")
        #expect(RunSummary.option("--hostfile", in: s.arguments) == nil)
        #expect(RunSummary.option("--run-dir", in: ["--run-dir=R", "--", "x"]) == "R")
    }

    @Test("logs: launch files by rank and node (host names with dots), lines only when complete, the last one on flush")
    func logsTail() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: "\(dir)/logs", withIntermediateDirectories: true)
        for (name, text) in [("n1.example.org.0.log", "a\n"), ("n1.example.org.1.log", ""), ("n2.2.log", "b\n"), ("junk.txt", "x")] {
            try text.write(toFile: "\(dir)/logs/\(name)", atomically: true, encoding: .utf8)
        }
        let all = RunLogs.sources(runDir: dir, kind: .launch, filter: .init())
        #expect(all.map(\.label) == ["n1.example.org:0", "n1.example.org:1", "n2:2"])
        #expect(RunLogs.sources(runDir: dir, kind: .launch, filter: .init(node: "n2")).map(\.label) == ["n2:2"])
        #expect(RunLogs.sources(runDir: dir, kind: .launch, filter: .init(rank: 1)).map(\.label) == ["n1.example.org:1"])
        #expect(RunLogs.mismatch(.init(config: "c"), kind: .launch) != nil)
        #expect(RunLogs.mismatch(.init(rank: 0), kind: .grid) != nil)

        var tail = RunLogs.Tail()
        let s = all[0]
        #expect(tail.read(s) == ["a"])
        #expect(tail.read(s) == [])
        let h = try #require(FileHandle(forWritingAtPath: s.path))
        h.seekToEndOfFile()
        h.write(Data("b\nhalf".utf8))
        #expect(tail.read(s) == ["b"])
        h.write(Data(" line".utf8))
        try h.close()
        #expect(tail.read(s) == [])
        #expect(tail.read(s, flush: true) == ["half line"])
    }

    @Test("the terminal timeline: a slice per column by how its attempt ended, the lost node's X, restarts and hand-offs")
    func terminalTimeline() {
        var t = RunTimeline(title: "grid x")
        t.nodes = ["n1", "n2"]
        t.bars = [
            RunTimeline.Bar(node: "n1", start: 0, end: 5, label: "c1#1", status: "lost"),
            RunTimeline.Bar(node: "n2", start: 0, end: 10, label: "c2#1", status: "done"),
            RunTimeline.Bar(node: "n2", start: 10, end: 20, label: "c1#2", status: "running"),
        ]
        t.marks = [
            RunTimeline.Mark(kind: .lost, time: 5, node: "n1", text: "n1 lost"),
            RunTimeline.Mark(kind: .handoff, time: 5, node: "n1", toNode: "n2", toTime: 10, text: "c1 handed off n1 → n2"),
            RunTimeline.Mark(kind: .restart, time: 10, text: "restart: attempt 2"),
        ]
        // 8 label columns + 20 slices of 1 s.
        let lines = t.text(width: 29).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("time    0 s ") && lines[0].hasSuffix(" 20.0 s"))
        #expect(lines[1] == "restart " + String(repeating: " ", count: 10) + "|" + String(repeating: " ", count: 9))
        #expect(lines[2] == "n1      ~~~~~X" + String(repeating: " ", count: 14))
        #expect(lines[3] == "n2      " + String(repeating: "#", count: 10) + String(repeating: ">", count: 10))
        #expect(lines.contains("        c1 handed off n1 → n2 at 5.0 s"))
        #expect(lines.contains("        restart: attempt 2 at 10.0 s"))
        // Colour only when asked.
        #expect(!t.text(width: 29).contains("\u{1B}["))
        #expect(t.text(width: 29, color: true).contains("\u{1B}[32m#"))
    }

    @Test("the terminal timeline keeps the busiest lanes when there are too many")
    func terminalTimelineLanes() {
        var t = RunTimeline(title: "grid x")
        t.nodes = (1...5).map { "n\($0)" }
        t.bars = [RunTimeline.Bar(node: "n4", start: 0, end: 1, label: "a", status: "done"),
                  RunTimeline.Bar(node: "n4", start: 1, end: 2, label: "b", status: "done"),
                  RunTimeline.Bar(node: "n2", start: 0, end: 2, label: "c", status: "failed")]
        let text = t.text(width: 40, maxLanes: 2)
        #expect(text.contains("\nn2 ") && text.contains("\nn4 ") && !text.contains("\nn1 "))
        #expect(text.contains("… and 3 more nodes"))
    }
}
