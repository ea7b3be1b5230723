import Foundation
import GRDB
import Testing
@testable import BatonGrid
@testable import BatonRuns

/// The typed values a run store and events.jsonl keep as strings: their raw values are what
/// earlier heads wrote, so stores and files made before the types read the same.
@Suite("Stored values")
struct StoredValuesTests {
    @Test("grid attempt statuses keep the strings the store's attempts.status column holds")
    func gridAttemptStatus() {
        #expect(GridAttemptStatus.allCases.map(\.rawValue) == ["running", "done", "failed", "lost", "timeout", "orphaned", "stopped"])
    }

    @Test("event kinds keep the names earlier heads wrote")
    func eventKinds() {
        #expect(LaunchEventKind.allCases.map(\.rawValue) == [
            "attempt-start", "attempt-end", "end", "resume", "restart", "node-lost", "interrupt", "sigkill-mpirun",
            "fence-wait", "agent-loss-check", "never-started", "hang", "straggler", "gate", "node-suspect", "node-rejoined",
            "spare-in", "pool", "checkpoint-request", "grow",
        ])
        #expect(GridEventKind.allCases.map(\.rawValue) == [
            "run", "started", "finished", "failed", "retry", "rollback", "handoff", "node", "node-lost", "node-readmitted",
            "node-check", "early-stop", "promoted",
        ])
        #expect(["continue", "stop"].compactMap(GridProgressRecord.Decision.init(rawValue:)) == [.continue, .stop])
        #expect(GridConfigStatus.stopped.rawValue == "stopped")
        #expect(LaunchEventKind.of(["event": "attempt-end", "time": 1.0]) == .attemptEnd)
        #expect(LaunchEventKind.of(["event": "no-such-kind"]) == nil)
    }

    @Test("node states keep their strings")
    func nodeStates() {
        #expect([LaunchNodeState.healthy, .lost, .spare, .suspect].map(\.rawValue) == ["healthy", "lost", "spare", "suspect"])
        #expect([GridNodeState.healthy, .suspect, .dead].map(\.rawValue) == ["healthy", "suspect", "dead"])
    }
}

/// The spec a grid run's store keeps decoded, so `status` and `results` never parse YAML.
@Suite("Stored grid spec")
struct StoredGridSpecTests {
    static let yaml = """
        command: [t]
        parameters: {lr: [0.1, 0.01], depth: [2]}
        objective: {metric: accuracy, mode: max}
        max_retries: 1
        timeout: 30m
        """

    @Test("a grid run's store keeps its spec decoded; a store made before that gets it once, when first read")
    func specRecord() throws {
        let dir = NSTemporaryDirectory() + "baton-gridspec-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let spec = try GridSpec.parse(Self.yaml, file: "g.yaml")
        let settings = GridRun.Settings(specPath: "g.yaml", specText: Self.yaml, nodeNames: ["n1"], hostSource: "sim", executor: "sim",
                                        heartbeatTimeout: 10, coolDown: 60)
        _ = try GridRun.create(runDir: dir, settings: settings, configs: try GridExpansion.expand(spec), durable: false)
        let record = try #require(GridSpecRecord.read(try GridStore(runDir: dir, readOnly: true).meta()))
        #expect(record == GridSpecRecord(spec))
        #expect(record.objective == GridObjective(metric: "accuracy", mode: .max))
        #expect(record.parameters.map(\.name) == ["lr", "depth"] && record.parameters[0].values == ["0.1", "0.01"])
        #expect(record.timeout == 1800 && record.maxRetries == 1)

        // As before the decoded spec: only its YAML.
        let db = try DatabaseQueue(path: "\(dir)/grid.sqlite")
        try db.write { try $0.execute(sql: "DELETE FROM meta WHERE key = 'spec'") }
        try db.close()
        let reader = try GridStore(runDir: dir, readOnly: true)
        #expect(GridReport.objective(try reader.meta()) == GridObjective(metric: "accuracy", mode: .max))
    }

    @Test("a run whose spec text is empty (a simulation) keeps no decoded spec and has no objective")
    func emptySpec() {
        #expect(GridSpecRecord.metaValue(specText: "", file: "x") == "null")
        #expect(GridSpecRecord.read(["spec": "null"]) == nil)
        #expect(GridReport.objective([:]) == nil)
    }
}
