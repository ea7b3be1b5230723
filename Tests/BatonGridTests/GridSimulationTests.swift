import Foundation
import Testing
@testable import BatonGrid
@testable import BatonRuns

/// `baton grid simulate` end to end at a small size: the real store, node loss on, and the
/// exactly-once check read back from the store (no timing is asserted).
@Suite("Grid simulation (node loss)")
struct GridSimulationTests {
    /// A simulation in a temporary run directory, `body` reading its store before it goes.
    static func simulate(_ configure: (inout GridSimulation.Settings) -> Void,
                         _ body: (GridSimulation.Report, String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "baton-grid-sim-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = GridSimulation.Settings()
        s.speed = 20_000
        configure(&s)
        try body(try GridSimulation.run(s, runDir: dir), dir)
    }

    @Test("500 configs on 50 nodes with 10% node loss: every config finishes exactly once, none lost")
    func nodeLossExactlyOnce() throws {
        try Self.simulate({ s in
            s.configs = 500
            s.nodes = 50
            s.nodeFailureRate = 0.1
            s.durable = false
        }) { report, dir in try Self.checkNodeLoss(report, dir) }
    }

    static func checkNodeLoss(_ report: GridSimulation.Report, _ dir: String) throws {
        guard case .finished(let done, let failed) = report.outcome else {
            Issue.record("simulation did not finish: \(report.outcome)")
            return
        }
        #expect(done + failed == 500)
        // Node loss really happened and moved work (otherwise this tests nothing).
        #expect(report.lostNodes > 0)
        #expect(report.handOffs > 0)
        #expect(report.exactlyOnce)

        // Read back from the store as `status` would: every config is accounted for once.
        let store = try GridStore(runDir: dir, readOnly: true)
        let tally = try store.tally()
        #expect(tally.configs == 500)
        #expect(tally.done + tally.failed == 500)
        #expect(tally.violations == 0)
        #expect(tally.runningAttempts == 0)
        #expect(tally.lostAttempts == report.handOffs)
    }
}

@Suite("Grid scheduler: pipelined commits")
struct GridCommitPipelineTests {
    /// Forwards to a simulated executor and checks, at every start, that the store already
    /// holds the attempt (read through a connection of its own, as `status` reads it).
    final class CommitCheckingExecutor: ConfigExecutor {
        let inner: SimulatedGridExecutor
        let runDir: String
        var startsBeforeCommit: [Int64] = []
        var starts = 0
        init(_ inner: SimulatedGridExecutor, runDir: String) {
            self.inner = inner
            self.runDir = runDir
        }
        var nodeNames: [String] { inner.nodeNames }
        func now() -> Double { inner.now() }
        func start(_ launch: AttemptLaunch) throws {
            starts += 1
            let reader = try GridStore(runDir: runDir, readOnly: true)
            let stored = try reader.snapshot(events: 0).configs.flatMap(\.attemptRecords).contains { $0.id == launch.attemptID }
            if !stored { startsBeforeCommit.append(launch.attemptID) }
            try inner.start(launch)
        }
        func terminate(attemptID: Int64, reason: String) { inner.terminate(attemptID: attemptID, reason: reason) }
        func poll(until deadline: Double) -> [ExecutorEvent] { inner.poll(until: deadline) }
        func healthCheck(node: Int) -> (problem: String?, seconds: Double) { inner.healthCheck(node: node) }
        func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit? {
            inner.reapOrphan(attemptID: attemptID, configID: configID, attempt: attempt, pid: pid, session: session)
        }
    }

    @Test("an attempt is started only after the commit that records it has returned")
    func startsAfterCommit() throws {
        let dir = NSTemporaryDirectory() + "baton-grid-pipe-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try GridSpec.parse("command: [t, \"{i}\"]\nparameters:\n  i: {range: [0, 40]}\n", file: "s.yaml")
        let configs = try GridExpansion.expand(spec)
        let failures = [SimulatedGridExecutor.NodeFailure(node: 2, at: 15, fault: .crash)]
        let executor = CommitCheckingExecutor(
            SimulatedGridExecutor(nodes: 4, failures: failures) { _ in .init(duration: 10) }, runDir: dir)
        let settings = GridRun.Settings(
            specPath: "s.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "sim", executor: "sim",
            heartbeatTimeout: 10, coolDown: 60)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: configs, durable: false)
        let scheduler = GridScheduler(
            executor: executor, store: store, options: .init(), configs: configs.map(GridConfigRecord.init(pending:)))
        #expect(try scheduler.run() == .finished(done: 40, failed: 0))
        #expect(executor.starts == 41)  // one config handed off from the crashed node
        #expect(executor.startsBeforeCommit.isEmpty)
    }

    @Test("a node is never found silent for an attempt whose start still waits for its commit")
    func silenceCountsFromTheStart() throws {
        // At 20,000 simulated seconds per wall second a commit of 0.2 ms lasts longer than
        // the 4 s heartbeat timeout (each one here takes a millisecond or more, with its
        // fsync): only silence counted from the real start keeps every node healthy.
        try GridSimulationTests.simulate({ s in
            s.configs = 300
            s.nodes = 30
            s.nodeFailureRate = 0
            s.configFailureRate = 0
            s.minDuration = 10
            s.maxDuration = 20
            s.heartbeatInterval = 1
            s.heartbeatTimeout = 4
        }) { report, _ in
            #expect(report.outcome == .finished(done: 300, failed: 0))
            #expect(report.handOffs == 0)
            #expect(report.dispatches == 300)
            #expect(report.exactlyOnce)
        }
    }
}

@Suite("Grid run store durability")
struct GridStoreDurabilityTests {
    @Test("a durable store commits with synchronous=FULL, --no-fsync with NORMAL (GRDB's WAL set-up must not override it)")
    func synchronousSetting() throws {
        let dir = NSTemporaryDirectory() + "baton-grid-sync-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let durable = try GridStore(runDir: dir, create: true, durable: true)
        #expect(try durable.synchronousSetting() == 2)
        try durable.commit([.meta("k", "v")])
        #expect(try durable.synchronousSetting() == 2)
        let reopened = try GridStore(runDir: dir, durable: false)
        #expect(try reopened.synchronousSetting() == 1)
        #expect(try reopened.meta()["k"] == "v")
    }
}
