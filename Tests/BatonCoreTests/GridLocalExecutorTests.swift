import Foundation
import Testing
@testable import BatonCore

#if canImport(Glibc)
    import Glibc
#endif

/// The scheduler over real child processes (one session per simulated node).
@Suite("Grid local executor (real processes)", .serialized)
struct GridLocalExecutorTests {
    /// A command that checkpoints: it counts steps in $BATON_CHECKPOINT_DIR/step, resumes from
    /// there, reports metrics, and notes each completion. $1 is the config's score.
    static let trainer = """
        cd "$BATON_CHECKPOINT_DIR" || exit 9
        step=0; [ -f step ] && step=$(cat step)
        echo "resume=$BATON_RESUME attempt=$BATON_ATTEMPT start=$step config=$BATON_CONFIG"
        while [ "$step" -lt 10 ]; do
          step=$((step + 1)); echo "$step" > step
          echo "{\\"step\\": $step, \\"score\\": $1}" >> "$BATON_METRICS"
          sleep 0.1
        done
        echo "$BATON_ATTEMPT" >> completions
        """

    static func run(
        configs n: Int, nodes: Int, failures: [LocalGridExecutor.Failure] = [], options: GridSchedulerOptions = .init()
    ) throws -> (String, GridStore, GridOutcome) {
        let dir = NSTemporaryDirectory() + "baton-grid-local-\(UUID().uuidString)"
        let spec = try GridSpec.parse(
            """
            command: [/bin/sh, -c, \(GridJSON.quote(trainer)), sh, "{score}"]
            parameters:
              score: {range: [1, \(n + 1)]}
            objective: {metric: score, mode: max}
            """, file: "local.yaml")
        let configs = try GridExpansion.expand(spec)
        let executor = LocalGridExecutor(nodes: nodes, runDir: dir, failures: failures, grace: 1)
        let settings = GridRun.Settings(
            specPath: "local.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "--local \(nodes)",
            executor: "local", heartbeatTimeout: options.heartbeatTimeout, coolDown: options.coolDown)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: configs, durable: false)
        var o = GridRun.options(spec: spec, settings: settings, runDir: dir)
        o.lease = options.lease
        o.heartbeatTimeout = options.heartbeatTimeout
        let scheduler = GridScheduler(executor: executor, store: store, options: o, configs: try store.snapshot().configs)
        let outcome = try scheduler.run()
        return (dir, store, outcome)
    }

    static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("configs run as processes with the contract's environment, and their last metrics are kept")
    func plain() throws {
        let (dir, store, outcome) = try Self.run(configs: 3, nodes: 2)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(outcome == .finished(done: 3, failed: 0))
        let snap = try store.snapshot()
        for c in snap.configs {
            #expect(c.status == .done)
            #expect(c.metrics["step"] == 10)
            #expect(c.metrics["score"] == Double(c.params[0].1.description))
            let log = Self.read(GridRunLayout.configDir(dir, c.id) + "/attempt-1.log")
            #expect(log.contains("resume=0 attempt=1 start=0 config=\(c.paramsJSON)"))
            #expect(Self.read(GridRunLayout.checkpointDir(dir, c.id) + "/completions") == "1\n")
        }
    }

    @Test("a node killed mid-config hands the config to another node, which resumes from the checkpoint")
    func killedNode() throws {
        var options = GridSchedulerOptions()
        options.coolDown = 600
        let (dir, store, outcome) = try Self.run(
            configs: 3, nodes: 2, failures: [.init(node: 0, after: 0.7, signal: SIGKILL, downFor: 600)], options: options)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(outcome == .finished(done: 3, failed: 0))
        let snap = try store.snapshot()
        let moved = try #require(snap.configs.first { $0.attempts == 2 })
        #expect(moved.attemptRecords.map(\.status) == ["lost", "done"])
        #expect(moved.attemptRecords[1].nodes == ["local-1"])
        #expect(moved.attemptRecords[1].resumed)
        let log = Self.read(GridRunLayout.configDir(dir, moved.id) + "/attempt-2.log")
        let said = log.split(separator: "\n").first { $0.hasPrefix("resume=") } ?? ""
        let start = Int(said.components(separatedBy: "start=").dropFirst().first?.prefix { $0.isNumber } ?? "") ?? 0
        #expect(log.contains("resume=1 attempt=2"))
        #expect(start > 0)  // continued from the checkpoint, not from 0
        for c in snap.configs {
            #expect(c.status == .done)
            // Completed exactly once, whatever the attempt count.
            #expect(Self.read(GridRunLayout.checkpointDir(dir, c.id) + "/completions").split(separator: "\n").count == 1)
        }
        #expect(snap.configs.filter { $0.id != moved.id }.allSatisfy { $0.attempts == 1 })
        #expect(snap.nodes.first { $0.name == "local-0" }?.state == .dead)
    }

    @Test("a hung node (SIGSTOP) is lost after the heartbeat timeout; its config moves after the lease")
    func hungNode() throws {
        var options = GridSchedulerOptions()
        options.heartbeatTimeout = 1
        options.lease = 1
        options.coolDown = 600
        let (dir, store, outcome) = try Self.run(
            configs: 2, nodes: 2, failures: [.init(node: 0, after: 0.4, signal: SIGSTOP, downFor: 600)], options: options)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(outcome == .finished(done: 2, failed: 0))
        let snap = try store.snapshot()
        let moved = try #require(snap.configs.first { $0.attempts == 2 })
        let lost = moved.attemptRecords[0]
        #expect(lost.status == "lost")
        #expect(lost.reason?.contains("no heartbeat") == true)
        let lostAt = try #require(lost.endedAt)
        #expect(moved.attemptRecords[1].startedAt >= lostAt + 1)
        // The stopped processes were killed, not left behind.
        #expect(GridProcess.processes(withEnvironment: "BATON_GRID_ATTEMPT=\(dir)#\(lost.id)").isEmpty)
        #expect(Self.read(GridRunLayout.checkpointDir(dir, moved.id) + "/completions") == "2\n")
    }

    @Test("with two nodes per config, the killed node is the one marked dead; its partner is freed")
    func multiNodeLoss() throws {
        var options = GridSchedulerOptions()
        options.coolDown = 600
        let dir = NSTemporaryDirectory() + "baton-grid-local-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try GridSpec.parse(
            "command: [/bin/sh, -c, \(GridJSON.quote(Self.trainer)), sh, \"{score}\"]\nparameters: {score: [1, 2]}\nnodes_per_config: 2\n",
            file: "s.yaml")
        let executor = LocalGridExecutor(nodes: 3, runDir: dir, failures: [.init(node: 1, after: 0.5, downFor: 600)], grace: 1)
        let settings = GridRun.Settings(specPath: "s.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "",
            executor: "local", heartbeatTimeout: 10, coolDown: 600)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: try GridExpansion.expand(spec), durable: false)
        var o = GridRun.options(spec: spec, settings: settings, runDir: dir)
        o.coolDown = 600
        let scheduler = GridScheduler(executor: executor, store: store, options: o, configs: try store.snapshot().configs)
        #expect(try scheduler.run() == .finished(done: 2, failed: 0))
        let snap = try store.snapshot()
        #expect(snap.nodes.map(\.state) == [.healthy, .dead, .healthy])
        let moved = try #require(snap.configs.first { $0.attempts == 2 })
        #expect(moved.attemptRecords[0].nodes == ["local-0", "local-1"])
        #expect(Set(moved.attemptRecords[1].nodes) == ["local-0", "local-2"])
    }

    @Test("a command that cannot be started fails its config with the reason, after retries")
    func missingProgram() throws {
        let dir = NSTemporaryDirectory() + "baton-grid-local-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try GridSpec.parse("command: [/nonexistent/prog]\nparameters: {a: [1]}\nmax_retries: 1\n", file: "s.yaml")
        let executor = LocalGridExecutor(nodes: 2, runDir: dir)
        let settings = GridRun.Settings(specPath: "s.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "",
            executor: "local", heartbeatTimeout: 10, coolDown: 60)
        let store = try GridRun.create(runDir: dir, settings: settings, configs: try GridExpansion.expand(spec), durable: false)
        let scheduler = GridScheduler(executor: executor, store: store,
            options: GridRun.options(spec: spec, settings: settings, runDir: dir), configs: try store.snapshot().configs)
        #expect(try scheduler.run() == .finished(done: 0, failed: 1))
        let c = try #require(try store.snapshot().configs.first)
        #expect(c.attempts == 2)
        #expect(c.lastOutput?.contains("cannot start /nonexistent/prog") == true)
    }
}
