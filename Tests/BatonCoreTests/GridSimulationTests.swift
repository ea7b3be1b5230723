import Foundation
import Testing
@testable import BatonCore

/// `baton grid simulate` end to end at a small size: the real store, node loss on, and the
/// exactly-once check read back from the store (no timing is asserted).
@Suite("Grid simulation (node loss)")
struct GridSimulationTests {
    @Test("500 configs on 50 nodes with 10% node loss: every config finishes exactly once, none lost")
    func nodeLossExactlyOnce() throws {
        let dir = NSTemporaryDirectory() + "baton-grid-sim-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s = GridSimulation.Settings()
        s.configs = 500
        s.nodes = 50
        s.nodeFailureRate = 0.1
        s.speed = 20_000
        s.durable = false
        let report = try GridSimulation.run(s, runDir: dir)

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
