@testable import BatonProtocol
@testable import BatonSystem
import Foundation
import GRDB
import Testing
@testable import BatonLaunch
@testable import BatonReports
@testable import BatonRuns

#if canImport(Glibc)
import Glibc
#endif

/// The launch head's run store (`RUN/launch.sqlite`): what it keeps, that the readers take
/// it over the old files, that a head commits each transition before acting on it, and that
/// it shares the grid store's mechanism.
@Suite("Launch store")
struct LaunchStoreTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "baton-launchstore-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func plan(_ dir: String, attempt: Int, hosts: [String]) -> LaunchPlan {
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: dir, batonPath: "/usr/bin/baton", masterPort: 29500)
        return planner.plan(hosts: HostList(hosts: hosts.map { BatonProtocol.Host(name: $0, slots: 2) }), attempt: attempt, shardDir: nil)
    }

    @Test("attempts, nodes, events, metrics and the end round-trip; the report is the attempts' records and the end")
    func roundTrip() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LaunchStore(runDir: dir, create: true)
        var r1 = AttemptRecord(attempt: 1, nodes: ["a", "b"], worldSize: 4)
        r1.outcome = .nodesLost
        r1.consumedAtStart = 0
        r1.lost = [LostNode(node: "b", ranks: [2, 3], signal: .heartbeatTimeout, cause: "heartbeat timeout (3 s)", detectionSeconds: 3.1)]
        try store.commit([
            .attemptStart(number: 1, nodes: ["a", "b"], world: 4, masterPort: 29500, consumed: 0, startedAt: 100,
                          plan: plan(dir, attempt: 1, hosts: ["a", "b"]).json()),
            .node(name: "a", position: 0, state: .healthy, since: 100, attempt: 1, signal: nil, cause: nil),
            .node(name: "b", position: 1, state: .healthy, since: 100, attempt: 1, signal: nil, cause: nil),
            .event(time: 100, kind: .attemptStart, node: nil, line: #"{"attempt":1,"event":"attempt-start","time":100}"#),
            .metric(attempt: 1, rank: 0, time: 101, line: #"{"step":1,"consumed":120,"loss":2.5}"#),
        ])
        try store.commit([
            .node(name: "b", position: 1, state: .lost, since: 104, attempt: 1, signal: .heartbeatTimeout, cause: "heartbeat timeout (3 s)"),
            .attemptEnd(r1, endedAt: 105),
            .event(time: 105, kind: .restart, node: nil, line: #"{"consumed":240,"event":"restart","time":105}"#),
        ])
        #expect(try store.report() == nil)
        try store.commit([.end(result: .failed, reason: "lost b; no restart left", exitCode: 4, lastConsumed: 240)])

        // Another connection (as `status` from another terminal) sees every commit.
        let reader = try LaunchStore(runDir: dir, readOnly: true)
        let attempts = try reader.attempts()
        #expect(attempts.map(\.number) == [1])
        #expect(attempts[0].nodes == ["a", "b"] && attempts[0].world == 4 && attempts[0].masterPort == 29500)
        #expect(attempts[0].startedAt == 100 && attempts[0].endedAt == 105 && attempts[0].outcome == .nodesLost)
        #expect(attempts[0].record == r1)
        #expect(attempts[0].plan?.hosts.map(\.name) == ["a", "b"])
        #expect(try reader.nodes() == [
            LaunchNodeRow(name: "a", position: 0, state: .healthy, since: 100, attempt: 1, signal: nil, cause: nil),
            LaunchNodeRow(name: "b", position: 1, state: .lost, since: 104, attempt: 1, signal: .heartbeatTimeout, cause: "heartbeat timeout (3 s)"),
        ])
        #expect(try reader.eventLines().count == 2)
        #expect(try reader.events().map { $0["event"] as? String } == ["attempt-start", "restart"])
        #expect(try reader.metricLines(attempt: 1) == [#"{"step":1,"consumed":120,"loss":2.5}"#])
        #expect(try reader.metricLines(attempt: 2).isEmpty)
        #expect(try reader.consumed() == 240)
        #expect(try reader.report() == LaunchReport(result: .failed, reason: "lost b; no restart left", attempts: [r1], exitCode: 4, lastConsumed: 240))
    }

    @Test("an earlier head's record of an attempt the store never saw start is added; a known one keeps its start and first end")
    func priorRecords() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LaunchStore(runDir: dir, create: true)
        try store.commit([.attemptStart(number: 2, nodes: ["a"], world: 2, masterPort: nil, consumed: 10, startedAt: 50, plan: "{}")])
        var r1 = AttemptRecord(attempt: 1, nodes: ["a", "b"], worldSize: 4)
        r1.outcome = .nodesLost
        var r2 = AttemptRecord(attempt: 2, nodes: ["a"], worldSize: 2)
        r2.outcome = .headLost
        try store.commit([.attemptEnd(r1, endedAt: 60), .attemptEnd(r2, endedAt: 60)])
        try store.commit([.attemptEnd(r2, endedAt: 70)])
        let rows = try store.attempts()
        #expect(rows.map(\.number) == [1, 2])
        #expect(rows[0].startedAt == nil && rows[0].record == r1)
        #expect(rows[1].startedAt == 50 && rows[1].endedAt == 60 && rows[1].consumedAtStart == 10 && rows[1].outcome == .headLost)
    }

    @Test("readers (resume point, runs, status) take the store over the old files: a run with only a store resumes")
    func readersPreferTheStore() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LaunchStore(runDir: dir, create: true)
        var r1 = AttemptRecord(attempt: 1, nodes: ["a", "b", "c"], worldSize: 6)
        r1.outcome = .nodesLost
        r1.lost = [LostNode(node: "b", ranks: [2, 3], signal: .agentEnded, cause: "x", detectionSeconds: 0.1)]
        try store.commit([
            .attemptStart(number: 1, nodes: ["a", "b", "c"], world: 6, masterPort: 29500, consumed: 0, startedAt: 10,
                          plan: plan(dir, attempt: 1, hosts: ["a", "b", "c"]).json()),
            .attemptEnd(r1, endedAt: 20),
            .attemptStart(number: 2, nodes: ["a", "c"], world: 4, masterPort: 29500, consumed: 250, startedAt: 21,
                          plan: plan(dir, attempt: 2, hosts: ["a", "c"]).json()),
            .event(time: 21, kind: .attemptStart, node: nil, line: #"{"attempt":2,"consumed":250,"event":"attempt-start","time":21}"#),
            .metric(attempt: 2, rank: 0, time: 22, line: #"{"consumed":420}"#),
        ])
        // Old files that disagree: the store wins.
        try FileManager.default.createDirectory(atPath: "\(dir)/attempts", withIntermediateDirectories: true)
        try "{\"event\":\"restart\",\"consumed\":9999,\"time\":1}\n".write(toFile: "\(dir)/events.jsonl", atomically: true, encoding: .utf8)

        #expect(LaunchRunFiles.attemptNumbers(dir) == [1, 2])
        try expectHeadLostAfterTwoAttempts(dir)
        let summary = try #require(RunSummary.read(dir))
        #expect(summary.kind == .launch && summary.state == .headLost)
        #expect(summary.started == 21 && summary.updated == 21)
        let timeline = try #require(RunTimeline.read(dir, now: 30))
        #expect(timeline.curves.map(\.name) == ["attempt 2"])

        var r2 = AttemptRecord(attempt: 2, nodes: ["a", "c"], worldSize: 4)
        r2.outcome = .completed
        try store.commit([.attemptEnd(r2, endedAt: 29), .end(result: .completed, reason: "done", exitCode: 0, lastConsumed: 600)])
        #expect(try LaunchResumePoint.read(runDir: dir).completed)
        #expect(RunSummary.read(dir)?.state == .done)
        #expect(LaunchRunFiles.report(dir)?.attempts == [r1, r2])
    }

    @Test("a head commits each transition before it acts on it: the node's loss and attempt 1's end are in the store when attempt 2 starts")
    func committedBeforeTheRestart() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: dir, batonPath: "/usr/bin/baton",
                                    heartbeat: 0.1, lease: 0.2, grace: 0.5, masterPort: 29500)
        var options = LaunchOptions(hosts: HostList(hosts: [BatonProtocol.Host(name: "na", slots: 1), BatonProtocol.Host(name: "nb", slots: 1)]),
                                    planner: planner)
        options.heartbeatTimeout = 30
        options.startupTimeout = 30
        let executor = StoreCheckingExecutor(runDir: dir)
        let report = try LaunchSupervisor(options: options, executor: executor, console: SilentConsole()).run()
        #expect(report.result == .completed)
        #expect(report.attempts.map(\.outcome) == [.nodesLost, .completed])

        let seen = try #require(executor.seenAtSecondStart.get)
        #expect(seen.nodes.first { $0.name == "nb" }?.state == .lost)
        #expect(seen.nodes.first { $0.name == "nb" }?.signal == .daemonLost)
        #expect(seen.nodes.first { $0.name == "na" }?.state == .healthy)
        #expect(seen.attempt1?.outcome == .nodesLost)
        #expect(seen.attempt1?.lost.map(\.node) == ["nb"])
        #expect(seen.attempt2Started)
        #expect(Array(seen.events.suffix(4)) == ["node-lost", "attempt-end", "restart", "attempt-start"])
        #expect(seen.metrics == [#"{"consumed":7}"#])

        // The files are views of the store: report.json is its report, events.jsonl its events.
        let store = try LaunchStore(runDir: dir, readOnly: true)
        let stored = try #require(try store.report())
        #expect(stored == report)
        let file = try #require(FileManager.default.contents(atPath: "\(dir)/report.json"))
        #expect(file == LaunchRunFiles.reportJSON(stored))
        let lines = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines == (try store.eventLines()))
        #expect(lines.count >= 7)
    }

    @Test("a head taking over a run made before the store imports its events.jsonl once (a torn last line left out)")
    func oldEventsImported() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = [#"{"attempt":1,"event":"attempt-start","time":10}"#, #"{"attempt":1,"event":"node-lost","how":"daemon lost","time":12}"#]
        try (old.joined(separator: "\n") + "\n{\"event\":\"att").write(toFile: "\(dir)/events.jsonl", atomically: true, encoding: .utf8)
        let store = try LaunchStore.forHead(runDir: dir)
        #expect(try store.eventLines() == old)
        #expect(try store.events().compactMap { $0["time"] as? Double } == [10, 12])
        _ = try LaunchStore.forHead(runDir: dir)
        #expect(try store.eventLines().count == 2)
    }

    @Test("the grid store opens a store made before the shared migrations, and both kinds share the events table")
    func gridStoreFromBeforeTheMigrator() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A grid.sqlite as the store wrote it before RunStore: the tables, no migration table.
        let old = try DatabaseQueue(path: "\(dir)/\(GridStore.fileName)")
        try old.write { db in
            try db.execute(sql: RunStore.common + GridStore.migrations[0].1)
            try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('created_at', '5')")
            try db.execute(sql: "INSERT INTO events(time, kind, text) VALUES (1, 'run', 'x')")
        }
        try old.close()
        let store = try GridStore(runDir: dir)
        try store.commit([.event(time: 2, kind: .run, configID: nil, node: nil, text: "y")])
        #expect(try store.meta()["created_at"] == "5")
        #expect(try store.snapshot(events: 10).recentEvents.map(\.kind) == [.run, .run])
        #expect(store.commits == 1)
    }

    @Test("a snapshot of a launch run takes its store through the backup API, whole, and leaves its WAL out")
    func snapshotTakesTheLaunchStore() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try LaunchStore(runDir: dir, create: true)
        try store.commit([.event(time: 1, kind: .attemptStart, node: nil, line: #"{"event":"attempt-start","time":1}"#)])
        let taken = try RunSnapshot.take(runDir: dir, options: .init(root: "\(dir)/snaps"))
        #expect(taken.manifest.kind == "launch")
        #expect(taken.manifest.files.first { $0.path == LaunchStore.fileName }?.how == "backup")
        #expect(!taken.manifest.files.contains { $0.path.hasSuffix("-wal") || $0.path.hasSuffix("-shm") })
        let copy = try LaunchStore(runDir: taken.dir, readOnly: true)
        #expect(try copy.events().map { $0["event"] as? String } == ["attempt-start"])
    }
}

/// An engine that plays two attempts: on the first, node `nb`'s daemon is lost (as mpirun
/// says it); at the start of the second it reads the store through a connection of its own
/// (as another process would) and keeps what it saw; the second completes.
final class StoreCheckingExecutor: JobExecutor, @unchecked Sendable {
    struct Seen: Sendable {
        var nodes: [LaunchNodeRow]
        var attempt1: AttemptRecord?
        var attempt2Started: Bool
        var events: [String]
        var metrics: [String]
    }
    let runDir: String
    let seenAtSecondStart = Locked<Seen?>(nil)
    init(runDir: String) { self.runDir = runDir }

    func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        func tagged(_ kind: TaggedLine.Kind, _ node: String, _ rank: Int, _ payload: String) {
            onLine(TaggedLine(kind: kind, node: node, rank: rank, payload: payload).encoded, .stdout)
        }
        if plan.attempt == 1 {
            tagged(.start, "na", 0, "")
            tagged(.start, "nb", 1, "")
            tagged(.metric, "na", 0, #"{"consumed":7}"#)
            onLine("ORTE has lost communication with a remote daemon.", .stderr)
            onLine("  Remote daemon: [[1,0],1] on node nb", .stderr)
            return FakeJob(status: nil)
        }
        let store = try LaunchStore(runDir: runDir, readOnly: true)
        let rows = try store.attempts()
        seenAtSecondStart.with {
            $0 = Seen(nodes: (try? store.nodes()) ?? [], attempt1: rows.first { $0.number == 1 }?.record,
                      attempt2Started: rows.contains { $0.number == 2 && $0.startedAt != nil },
                      events: ((try? store.events()) ?? []).compactMap { $0["event"] as? String },
                      metrics: (try? store.metricLines(attempt: 1)) ?? [])
        }
        tagged(.start, "na", 0, "")
        tagged(.exit, "na", 0, RankExit(status: .exited(0)).payload)
        return FakeJob(status: .exited(0))
    }

    func finished(_ plan: LaunchPlan) {}
}

/// A job that has ended (`status`) or runs until it is terminated or killed.
final class FakeJob: RunningJob, @unchecked Sendable {
    let state: Locked<BatonSystem.ExitStatus?>
    init(status: BatonSystem.ExitStatus?) { state = Locked(status) }
    /// No such process: nothing to watch or sweep.
    var pid: pid_t { 0x3fff_fff0 }
    func send(_ message: HeadMessage) -> Bool { true }
    func terminate() { state.with { if $0 == nil { $0 = .signaled(SIGTERM) } } }
    func kill() { state.with { if $0 == nil { $0 = .signaled(SIGKILL) } } }
    func poll() -> BatonSystem.ExitStatus? { state.get }
    var outputFinished: Bool { true }
}
