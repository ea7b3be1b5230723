import Testing
@testable import BatonCore

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
            "fence-wait", "agent-loss-check", "never-started",
        ])
        #expect(GridEventKind.allCases.map(\.rawValue) == [
            "run", "started", "finished", "failed", "retry", "rollback", "handoff", "node", "node-lost", "node-readmitted",
            "node-check",
        ])
        #expect(LaunchEventKind.of(["event": "attempt-end", "time": 1.0]) == .attemptEnd)
        #expect(LaunchEventKind.of(["event": "no-such-kind"]) == nil)
    }

    @Test("node states keep their strings")
    func nodeStates() {
        #expect([LaunchNodeState.healthy, .lost].map(\.rawValue) == ["healthy", "lost"])
        #expect([GridNodeState.healthy, .suspect, .dead].map(\.rawValue) == ["healthy", "suspect", "dead"])
    }
}
