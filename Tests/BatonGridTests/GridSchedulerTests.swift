import Foundation
import Testing
@testable import BatonGrid
@testable import BatonRuns

/// The scheduler driven by the in-process simulated executor (virtual time, deterministic).
@Suite("Grid scheduler (simulated nodes)")
struct GridSchedulerTests {
    static func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "baton-grid-test-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func configs(_ n: Int) throws -> [GridConfig] {
        let spec = try GridSpec.parse("command: [t, \"{i}\"]\nparameters:\n  i: {range: [0, \(n)]}\n", file: "s.yaml")
        return try GridExpansion.expand(spec)
    }

    /// One test's run; its temporary run directory goes with it.
    final class Harness {
        let runDir: String
        let store: GridStore
        let executor: SimulatedGridExecutor
        let scheduler: GridScheduler
        let configs: [GridConfig]

        init(runDir: String, store: GridStore, executor: SimulatedGridExecutor, scheduler: GridScheduler, configs: [GridConfig]) {
            self.runDir = runDir
            self.store = store
            self.executor = executor
            self.scheduler = scheduler
            self.configs = configs
        }

        deinit { try? FileManager.default.removeItem(atPath: runDir) }
    }

    static func harness(
        configs n: Int, nodes: Int, failures: [SimulatedGridExecutor.NodeFailure] = [], options: GridSchedulerOptions = .init(),
        specText: String = "", model: @escaping (AttemptLaunch) -> SimulatedGridExecutor.JobOutcome = { _ in .init(duration: 10) }
    ) throws -> Harness {
        let dir = tempDir()
        let configs = try configs(n)
        let executor = SimulatedGridExecutor(nodes: nodes, failures: failures, model: model)
        let settings = GridRun.Settings(
            specPath: "s.yaml", specText: specText, nodeNames: executor.nodeNames, hostSource: "sim", executor: "sim",
            heartbeatTimeout: options.heartbeatTimeout, coolDown: options.coolDown)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: configs, durable: false)
        let records = try store.snapshot().configs
        let scheduler = GridScheduler(executor: executor, store: store, options: options, configs: records)
        return Harness(runDir: dir, store: store, executor: executor, scheduler: scheduler, configs: configs)
    }

    /// Configs that exited 0, counted per config id over the executor's launches.
    static func successfulRuns(_ h: Harness) throws -> [String: Int] {
        var out: [String: Int] = [:]
        for c in try h.store.snapshot().configs {
            out[c.id] = c.attemptRecords.filter { $0.status == .done }.count
        }
        return out
    }

    @Test("every config runs once when nothing fails, one config per node at a time")
    func plainRun() throws {
        let h = try Self.harness(configs: 10, nodes: 3)
        #expect(try h.scheduler.run() == .finished(done: 10, failed: 0))
        let snap = try h.store.snapshot()
        #expect(snap.configs.allSatisfy { $0.status == .done && $0.attempts == 1 })
        // 10 configs of 10 s over 3 nodes: 4 waves.
        let starts = h.executor.launches.map(\.attemptID)
        #expect(starts.count == 10)
        let firstWave = snap.configs.flatMap(\.attemptRecords).filter { $0.startedAt == 0 }
        #expect(firstWave.count == 3)
        #expect(Set(firstWave.flatMap(\.nodes)).count == 3)
    }

    @Test("a crashed node's config resumes on another node at once; other configs keep one attempt")
    func crashHandOff() throws {
        let failures = [SimulatedGridExecutor.NodeFailure(node: 1, at: 5, fault: .crash)]
        let h = try Self.harness(configs: 12, nodes: 4, failures: failures)
        #expect(try h.scheduler.run() == .finished(done: 12, failed: 0))
        let snap = try h.store.snapshot()
        let moved = snap.configs.filter { $0.attempts > 1 }
        #expect(moved.count == 1)
        let c = try #require(moved.first)
        #expect(c.attemptRecords.map(\.status) == [.lost, .done])
        #expect(c.attemptRecords[0].nodes == ["sim1"])
        #expect(c.attemptRecords[1].nodes != ["sim1"])
        #expect(c.attemptRecords[1].resumed)
        // Every node is busy until 10 s; then the handed-off config is the first to go.
        #expect(h.executor.launches.dropFirst(4).first?.configID == c.id)
        #expect(c.attemptRecords[1].startedAt == 10)
        let relaunch = try #require(h.executor.launches.last { $0.configID == c.id })
        #expect(relaunch.resume)
        #expect(relaunch.attempt == 2)
        #expect(try Self.successfulRuns(h).values.allSatisfy { $0 == 1 })
        #expect(snap.nodes.first { $0.name == "sim1" }?.state == .dead)
        #expect(!h.executor.launches.contains { $0.nodes == [1] && $0.attemptID > c.attemptRecords[0].id })
    }

    @Test("a silent node is declared lost after the heartbeat timeout and its config moves after the lease")
    func silentHandOff() throws {
        var options = GridSchedulerOptions()
        options.heartbeatTimeout = 10
        options.lease = 10
        let failures = [SimulatedGridExecutor.NodeFailure(node: 0, at: 5, fault: .silent)]
        let h = try Self.harness(configs: 4, nodes: 2, failures: failures, options: options) { _ in .init(duration: 30) }
        #expect(try h.scheduler.run() == .finished(done: 4, failed: 0))
        let c = try #require(try h.store.snapshot().configs.first { $0.attempts > 1 })
        let lost = c.attemptRecords[0]
        #expect(lost.status == .lost)
        // Last heartbeat at 4 s; lost once silent for more than 10 s; lease 10 s more.
        #expect(try #require(lost.endedAt) > 14)
        let lostAt = try #require(lost.endedAt)
        #expect(c.attemptRecords[1].startedAt >= lostAt + 10)
        #expect(h.executor.terminated.contains(lost.id))
        #expect(try Self.successfulRuns(h).values.allSatisfy { $0 == 1 })
    }

    @Test("a failing config is retried on other nodes up to max_retries, then failed; others unaffected")
    func retries() throws {
        var options = GridSchedulerOptions()
        options.maxRetries = 2
        // Config i=2 always exits 3.
        let h2 = try Self.harness(configs: 6, nodes: 3, options: options) { launch in
            launch.argv[1] == "2" ? .init(duration: 1, exitCode: 3) : .init(duration: 10)
        }
        let bad = h2.configs[2].id
        #expect(try h2.scheduler.run() == .finished(done: 5, failed: 1))
        let snap = try h2.store.snapshot()
        let c = try #require(snap.configs.first { $0.id == bad })
        #expect(c.status == .failed)
        #expect(c.attempts == 3)
        #expect(c.attemptRecords.map(\.exitCode) == [3, 3, 3])
        #expect(Set(c.attemptRecords.flatMap(\.nodes)).count == 3)  // each retry on another node
        #expect(snap.configs.filter { $0.id != bad }.allSatisfy { $0.attempts == 1 && $0.status == .done })
        #expect(snap.nodes.allSatisfy { $0.state == .healthy })
    }

    @Test("a dead node is re-admitted after the cool-down when its health check passes")
    func readmission() throws {
        var options = GridSchedulerOptions()
        options.coolDown = 20
        let failures = [SimulatedGridExecutor.NodeFailure(node: 1, at: 5, fault: .crash, downFor: 10)]
        let h = try Self.harness(configs: 12, nodes: 2, failures: failures, options: options)
        #expect(try h.scheduler.run() == .finished(done: 12, failed: 0))
        let snap = try h.store.snapshot()
        let onNode1 = snap.configs.flatMap(\.attemptRecords).filter { $0.nodes == ["sim1"] && $0.startedAt > 5 }
        #expect(!onNode1.isEmpty)
        #expect(onNode1.allSatisfy { $0.startedAt >= 25 })
        #expect(snap.nodes.allSatisfy { $0.state == .healthy })
    }

    @Test("a node that fails the health gate stays out until it passes, checked again after twice the wait each time (the launch's back-off), the reasons recorded")
    func failedHealthCheck() throws {
        var options = GridSchedulerOptions()
        options.coolDown = 20
        let failures = [SimulatedGridExecutor.NodeFailure(node: 1, at: 5, fault: .crash, downFor: 50)]
        let h = try Self.harness(configs: 20, nodes: 2, failures: failures, options: options)
        var events: [GridEventRecord] = []
        h.scheduler.onEvent = { events.append($0) }
        #expect(try h.scheduler.run() == .finished(done: 20, failed: 0))
        let snap = try h.store.snapshot()
        let later = snap.configs.flatMap(\.attemptRecords).filter { $0.nodes == ["sim1"] && $0.startedAt > 5 }
        #expect(!later.isEmpty)
        // Down until 55: checks at 25 (fails, next in 40 s) and 65 (passes); not at 45.
        #expect(later.allSatisfy { $0.startedAt >= 65 })
        let checks = events.filter { $0.kind == .nodeCheck || $0.kind == .nodeReadmitted }
        #expect(checks.map(\.time) == [25, 65])
        #expect(checks.first?.text == "node sim1 failed the health gate (0.00 s): the node is down (simulated); next check in 40s")
        #expect(checks.last?.text == "node sim1 re-admitted: passed the health gate (0.00 s) after --cool-down")
    }

    @Test("after the head is killed, resume finishes the grid without rerunning finished configs")
    func resumeAfterHeadCrash() throws {
        let h = try Self.harness(configs: 9, nodes: 3)
        h.scheduler.crashAfterDispatches = 6
        #expect(throws: GridScheduler.SimulatedHeadCrash.self) { try h.scheduler.run() }
        let before = try h.store.snapshot()
        let doneBefore = Set(before.configs.filter { $0.status == .done }.map(\.id))
        let runningBefore = Set(before.configs.filter { $0.status == .running }.map(\.id))
        #expect(doneBefore.count == 3)
        #expect(runningBefore.count == 3)

        let store = try GridStore(runDir: h.runDir, durable: false)
        let executor = SimulatedGridExecutor(nodes: 3) { _ in .init(duration: 10) }
        let r = try GridRun.prepareResume(store: store, executor: executor, newConfigs: nil)
        #expect(r.orphans.count == 3)
        let scheduler = GridScheduler(
            executor: executor, store: store, options: .init(), configs: r.configs, resumeFirst: r.resumeFirst,
            nodeStates: r.nodeStates, nextAttemptID: r.nextAttemptID)
        #expect(try scheduler.run() == .finished(done: 9, failed: 0))
        let relaunched = Set(executor.launches.map(\.configID))
        #expect(relaunched.isDisjoint(with: doneBefore))
        // Orphans go first and resume from their checkpoints.
        #expect(Set(executor.launches.prefix(3).map(\.configID)) == runningBefore)
        #expect(executor.launches.prefix(3).allSatisfy { $0.resume })
        let after = try store.snapshot()
        #expect(after.configs.allSatisfy { $0.status == .done })
        for c in after.configs { #expect(c.attemptRecords.filter { $0.status == .done }.count == 1) }
        #expect(after.configs.filter { runningBefore.contains($0.id) }.allSatisfy { $0.attemptRecords.first?.status == .orphaned })
    }

    @Test("stop ends the run with running configs back to pending, and resume completes them")
    func stopAndResume() throws {
        let h = try Self.harness(configs: 6, nodes: 2)
        let scheduler = h.scheduler
        scheduler.shouldStop = { scheduler.dispatches >= 3 }
        #expect(try h.scheduler.run() == .stopped)
        let snap = try h.store.snapshot()
        #expect(snap.configs.filter { $0.status == .running }.isEmpty)
        #expect(snap.configs.filter { $0.status == .done }.count == 2)
        #expect(snap.configs.flatMap(\.attemptRecords).filter { $0.status == .stopped }.count == 2)
        #expect(h.executor.terminated.count == 2)

        let executor = SimulatedGridExecutor(nodes: 2) { _ in .init(duration: 10) }
        let r = try GridRun.prepareResume(store: h.store, executor: executor, newConfigs: nil)
        #expect(r.orphans.isEmpty)
        let again = GridScheduler(executor: executor, store: h.store, options: .init(), configs: r.configs,
            nodeStates: r.nodeStates, nextAttemptID: r.nextAttemptID)
        #expect(try again.run() == .finished(done: 6, failed: 0))
        #expect(executor.launches.count == 4)
    }

    @Test("nodes_per_config places each config on that many distinct nodes")
    func multiNode() throws {
        var options = GridSchedulerOptions()
        options.nodesPerConfig = 2
        let h = try Self.harness(configs: 5, nodes: 5, options: options)
        #expect(try h.scheduler.run() == .finished(done: 5, failed: 0))
        #expect(h.executor.launches.allSatisfy { Set($0.nodes).count == 2 })
        let firstWave = h.executor.launches.prefix(3)
        #expect(Set(firstWave.flatMap(\.nodes)).count == 4)
    }

    @Test("a config over its timeout is stopped and counted as a failure")
    func timeout() throws {
        var options = GridSchedulerOptions()
        options.timeout = 5
        options.maxRetries = 0
        let h = try Self.harness(configs: 2, nodes: 2, options: options) { l in .init(duration: l.argv[1] == "0" ? 50 : 1) }
        #expect(try h.scheduler.run() == .finished(done: 1, failed: 1))
        let failed = try #require(try h.store.snapshot().configs.first { $0.status == .failed })
        #expect(failed.lastOutput?.contains("timeout") == true)
    }

    @Test("every node dead for good ends the run instead of waiting forever")
    func noNodes() throws {
        var options = GridSchedulerOptions()
        options.coolDown = 5
        let failures = [SimulatedGridExecutor.NodeFailure(node: 0, at: 1, fault: .crash)]
        let h = try Self.harness(configs: 3, nodes: 1, failures: failures, options: options)
        #expect(try h.scheduler.run() == .noNodes)
    }

    @Test("results are sorted by the objective, best first, failed configs last; JSON has the promised fields")
    func resultsOrder() throws {
        var options = GridSchedulerOptions()
        options.maxRetries = 0
        let spec = "command: [t]\nparameters: {i: [0]}\nobjective: {metric: loss, mode: min}\n"
        let h = try Self.harness(configs: 5, nodes: 2, options: options, specText: spec) { l in
            let i = Double(l.argv[1])!
            return .init(duration: 1, exitCode: i == 2 ? 1 : 0, metrics: ["loss": abs(i - 3), "step": 7])
        }
        #expect(try h.scheduler.run() == .finished(done: 4, failed: 1))
        let rows = GridReport.results(try h.store.snapshot())
        #expect(rows.map { $0.params[0].1 } == [.int(3), .int(4), .int(1), .int(0), .int(2)])
        #expect(rows.last?.status == .failed)
        let json = try JSONSerialization.jsonObject(with: Data(GridReport.json(rows).utf8)) as! [[String: Any]]
        for key in ["id", "params", "status", "attempts", "nodes", "resumed", "metrics"] {
            #expect(json[0][key] != nil, "missing \(key)")
        }
        #expect((json[0]["metrics"] as? [String: Any])?["step"] != nil)
        #expect(GridReport.csv(rows).split(separator: "\n").first == "id,status,attempts,resumed,handed_off,nodes,i,loss,step")
    }

    @Test("resume with a reordered, extended spec runs only the new configs")
    func resumeWithExtendedSpec() throws {
        let dir = Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try GridExpansion.expand(try GridSpec.parse("command: [t]\nparameters:\n  lr: [0.1, 0.2]\n  bs: [1]\n", file: "a.yaml"))
        let executor = SimulatedGridExecutor(nodes: 2) { _ in .init(duration: 5) }
        let settings = GridRun.Settings(specPath: "a.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "sim",
            executor: "sim", heartbeatTimeout: 10, coolDown: 60)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: a, durable: false)
        let first = GridScheduler(executor: executor, store: store, options: .init(), configs: try store.snapshot().configs)
        #expect(try first.run() == .finished(done: 2, failed: 0))

        let b = try GridExpansion.expand(try GridSpec.parse("command: [t]\nparameters:\n  bs: [1, 2]\n  lr: [0.2, 0.1]\n", file: "b.yaml"))
        let executor2 = SimulatedGridExecutor(nodes: 2) { _ in .init(duration: 5) }
        let r = try GridRun.prepareResume(store: store, executor: executor2, newConfigs: b)
        #expect(r.configs.count == 4)
        let second = GridScheduler(executor: executor2, store: store, options: .init(), configs: r.configs,
            nodeStates: r.nodeStates, nextAttemptID: r.nextAttemptID)
        #expect(try second.run() == .finished(done: 4, failed: 0))
        let newIDs = Set(b.filter { c in !a.contains { $0.id == c.id } }.map(\.id))
        #expect(newIDs.count == 2)
        #expect(Set(executor2.launches.map(\.configID)) == newIDs)
        #expect(try store.snapshot().configs.allSatisfy { $0.attempts == 1 })
    }

    @Test("retries of multi-node configs never wait forever for nodes they have not failed on")
    func multiNodeRetriesDoNotDeadlock() throws {
        var options = GridSchedulerOptions()
        options.nodesPerConfig = 2
        options.maxRetries = 2
        let h = try Self.harness(configs: 2, nodes: 3, options: options) { l in
            .init(duration: 1, exitCode: l.attempt == 1 ? 1 : 0)
        }
        #expect(try h.scheduler.run() == .finished(done: 2, failed: 0))
        #expect(try h.store.snapshot().configs.allSatisfy { $0.attempts == 2 })
    }
}
