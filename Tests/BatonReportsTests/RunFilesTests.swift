@testable import BatonProtocol
@testable import BatonSystem
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

    /// A run directory as a head before the store left it: attempt 1 on a, b, c lost b;
    /// attempt 2 on a and c reached 420 samples (its metrics file ends in a torn line).
    func oldLayoutAfterTwoAttempts(attempt2Record: Bool = false) throws -> String {
        let dir = try tempDir()
        try writePlan(dir, attempt: 1, hosts: ["a", "b", "c"])
        var r1 = AttemptRecord(attempt: 1, nodes: ["a", "b", "c"], worldSize: 6)
        r1.outcome = .nodesLost
        r1.lost = [LostNode(node: "b", ranks: [2, 3], signal: .agentEnded, cause: "x", detectionSeconds: 0.1)]
        LaunchRunFiles.recordAttempt(r1, runDir: dir)
        try writePlan(dir, attempt: 2, hosts: ["a", "c"])
        try FileManager.default.createDirectory(atPath: "\(dir)/metrics/attempt-2", withIntermediateDirectories: true)
        try "{\"consumed\": 300}\n{\"consumed\": 420}\n{\"cons".write(toFile: "\(dir)/metrics/attempt-2/rank-0.jsonl", atomically: true, encoding: .utf8)
        try "{\"event\":\"restart\",\"consumed\":250,\"time\":1}\n".write(toFile: "\(dir)/events.jsonl", atomically: true, encoding: .utf8)
        if attempt2Record {
            // The attempt-2 record says it lost c.
            var r2 = AttemptRecord(attempt: 2, nodes: ["a", "c"], worldSize: 4)
            r2.outcome = .nodesLost
            r2.lost = [LostNode(node: "c", ranks: [2, 3], signal: .heartbeatTimeout, cause: "x", detectionSeconds: 3)]
            LaunchRunFiles.recordAttempt(r2, runDir: dir)
        }
        return dir
    }

    @Test("a run made before the store is converted into one when first read, once, and reads as its files said")
    func oldLayoutConverted() throws {
        let dir = try oldLayoutAfterTwoAttempts()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(!LaunchStore.exists(runDir: dir))
        try expectHeadLostAfterTwoAttempts(dir)
        #expect(LaunchStore.exists(runDir: dir))
        #expect(RunSummary.read(dir)?.state == .headLost)
        #expect(LaunchRunFiles.events(dir).compactMap { $0["event"] as? String } == ["restart"])
        let store = try LaunchStore(runDir: dir, readOnly: true)
        #expect(try store.metricLines(attempt: 2) == [#"{"consumed": 300}"#, #"{"consumed": 420}"#])
        #expect(try store.attempts().map(\.number) == [1, 2])
        // The files stay; no side file of the conversion is left.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["attempts", "events.jsonl", "launch.sqlite", "metrics"])
        // Read again: the store is not made twice.
        let inode = FileStat.of("\(dir)/launch.sqlite")?.inode
        try expectHeadLostAfterTwoAttempts(dir)
        #expect(FileStat.of("\(dir)/launch.sqlite")?.inode == inode)
    }

    @Test("resume point: after the last attempt, on its nodes less the lost, from the most consumed; a killed head's attempt is 'head lost'")
    func resumePoint() throws {
        let dir = try oldLayoutAfterTwoAttempts()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectHeadLostAfterTwoAttempts(dir)
        #expect(RunSummary.read(dir)?.state == .headLost)

        // With the attempt-2 record saying it lost c, the resumed head starts on a alone.
        let recorded = try oldLayoutAfterTwoAttempts(attempt2Record: true)
        defer { try? FileManager.default.removeItem(atPath: recorded) }
        #expect(try LaunchResumePoint.read(runDir: recorded).hosts.names == ["a"])
    }

    @Test("a run whose report says it completed after its last attempt is not resumed; an empty directory is bad input")
    func completedAndEmpty() throws {
        let empty = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: LaunchError.self) { try LaunchResumePoint.read(runDir: empty) }
        var r = AttemptRecord(attempt: 1, nodes: ["a"], worldSize: 2)
        r.outcome = .completed
        let report = LaunchReport(result: .completed, reason: "ok", attempts: [r], exitCode: 0, lastConsumed: nil)
        func completedRun(laterAttempt: Bool) throws -> String {
            let dir = try tempDir()
            try writePlan(dir, attempt: 1, hosts: ["a"])
            try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: "\(dir)/report.json"))
            // A later attempt than the report knows: a resumed head killed.
            if laterAttempt { try writePlan(dir, attempt: 2, hosts: ["a"]) }
            return dir
        }
        let done = try completedRun(laterAttempt: false)
        defer { try? FileManager.default.removeItem(atPath: done) }
        #expect(try LaunchResumePoint.read(runDir: done).completed)
        #expect(RunSummary.read(done)?.state == .done)
        #expect(LaunchRunFiles.report(done) == report)
        let resumedAndKilled = try completedRun(laterAttempt: true)
        defer { try? FileManager.default.removeItem(atPath: resumedAndKilled) }
        #expect(try !LaunchResumePoint.read(runDir: resumedAndKilled).completed)
        #expect(RunSummary.read(resumedAndKilled)?.state == .headLost)
    }

    @Test("launch.json is written once: a resumed head keeps the spec the run was started with")
    func settingsOnce() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var spec = LaunchSpec()
        spec.hosts.local = 2
        spec.shardSamples = 600
        spec.command = ["t", "--shard-samples", "9"]
        try LaunchRunFiles.recordSettings(.init(spec: spec, directory: "/x", created: 5), runDir: dir)
        try LaunchRunFiles.recordSettings(.init(spec: LaunchSpec(), directory: "/y", created: 6), runDir: dir)
        let s = try #require(LaunchRunFiles.settings(dir))
        #expect(s.directory == "/x")
        #expect(s.spec == spec)
        #expect(s.legacyArguments == nil)
        #expect(RunSummary.read(dir)?.kind == .launch)
    }

    @Test("a launch.json of an older Baton (its command line) is read as the spec it stands for, and rewritten once converted")
    func legacySettings() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = #"{"arguments": ["--local", "2", "--shard-samples=600", "--shard-shuffle", "--heartbeat-timeout", "3s", "--run-dir", "r", "--on-rank-failure", "restart", "--", "python", "t.py", "--local", "9"], "directory": "/x", "created": 5}"#
        try old.write(toFile: LaunchRunFiles.settingsPath(dir), atomically: true, encoding: .utf8)
        let s = try #require(try LaunchRunFiles.readSettings(dir))
        #expect(s.legacyArguments?.first == "--local")
        #expect(s.spec.hosts == .init(local: 2))
        #expect(s.spec.shardSamples == 600 && s.spec.shardShuffle)
        #expect(s.spec.heartbeatTimeout == "3s" && s.spec.onRankFailure == .restart)
        #expect(s.spec.command == ["python", "t.py", "--local", "9"])
        #expect(s.directory == "/x" && s.created == 5)
        #expect(RunSummary.read(dir)?.progress == "not started")
        try LaunchRunFiles.recordSettings(s, runDir: dir, replacing: true)
        let again = try #require(try LaunchRunFiles.readSettings(dir))
        #expect(again.legacyArguments == nil && again.spec == s.spec)
        try #"{"arguments": ["--no-such-flag", "1"], "directory": "/x", "created": 5}"#
            .write(toFile: LaunchRunFiles.settingsPath(dir), atomically: true, encoding: .utf8)
        #expect(throws: LaunchError.self) { try LaunchRunFiles.readSettings(dir) }
    }

    @Test("a run made by an older Baton (its command line in launch.json) resumes: the head gets the converted spec and writes it back")
    func legacyRunResumes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"arguments": ["--hostfile", "hosts.txt", "--shard-samples", "64", "--grace", "2s", "--", "python", "t.py"], "directory": "/x", "created": 5}"#
            .write(toFile: LaunchRunFiles.settingsPath(dir), atomically: true, encoding: .utf8)
        try writePlan(dir, attempt: 1, hosts: ["a", "b"])
        guard case .head(let head) = try LaunchHead.resume(runDir: dir) else { Issue.record("not resumable"); return }
        #expect(head.spec.command == ["python", "t.py"])
        #expect(head.spec.hosts.hostfile == "hosts.txt" && head.spec.shardSamples == 64 && head.spec.grace == "2s")
        #expect(head.directory == "/x")
        #expect(head.resume?.point.lastAttempt == 1 && head.resume?.point.hosts.names == ["a", "b"])
        #expect(head.resume?.hostsGiven == false)
        #expect(head.convertsLegacySettings && head.created == 5)
        // Hosts given to --resume replace the stored ones for this head only.
        guard case .head(let other) = try LaunchHead.resume(runDir: dir, hosts: .init(local: 2)) else { return }
        #expect(other.spec.hosts == .init(local: 2) && other.resume?.hostsGiven == true)
        #expect(try LaunchRunFiles.readSettings(dir)?.spec.hosts.hostfile == "hosts.txt")
    }

    @Test("a detached head's request carries the spec and comes back as the same head")
    func detachedRequestRoundTrips() throws {
        var spec = LaunchSpec()
        spec.hosts.local = 2
        spec.command = ["echo", "--", "x y"]
        let request = LaunchHead.Request(spec: spec, runDir: "/r", directory: "/d", resume: false, hostsGiven: false,
                                         convertsLegacySettings: false, created: nil)
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let head = try LaunchHead.detached(request: json)
        #expect(head.spec == spec && head.runDir == "/r" && head.directory == "/d" && head.resume == nil)
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

    @Test("the SVG draws a grid's rungs across the curves, and a stopped config's curve dashed, ending in an X with its reason")
    func svgRungsAndStops() {
        var t = RunTimeline(title: "grid x")
        t.nodes = ["n1"]
        t.bars = [RunTimeline.Bar(node: "n1", start: 0, end: 5, label: "c1#1", status: "stopped")]
        t.metric = "acc"
        t.xAxis = "epoch"
        t.rungs = [1, 3]
        t.curves = [
            RunTimeline.Curve(name: "c1", points: [(1, 0.5), (2, 0.6), (3, 0.6)], stop: (3, 0.6, "stopped at rung 1 (epoch 3): ...")),
            RunTimeline.Curve(name: "c2", points: [(1, 0.7), (2, 0.8), (3, 0.9)]),
        ]
        let svg = t.svg()
        #expect(svg.contains("acc by epoch"))
        #expect(svg.components(separatedBy: "class=\"rung\"").count == 3)
        #expect(svg.components(separatedBy: "class=\"stopped\"").count == 2)
        #expect(svg.contains("<title>c1 stopped at rung 1 (epoch 3): ...</title>"))
        #expect(svg.components(separatedBy: "stroke-dasharray=\"3,2\"").count == 2)
        #expect(t.caption.hasSuffix("2 curves of acc, 1 stopped early, 2 rungs"))
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
