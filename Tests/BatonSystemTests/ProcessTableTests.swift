import Foundation
import Testing
@testable import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ProcessTableTests {
    /// A child whose environment holds `extra`; returns once it runs its own program.
    func child(_ extra: [String: String]) throws -> ChildProcess {
        var env = ProcessInfo.processInfo.environment
        for (k, v) in extra { env[k] = v }
        let c = try ChildProcess.spawn(["sh", "-c", "echo ready; exec sleep 30 >/dev/null"], environment: env, stdin: .null, stdout: .pipe, stderr: .null)
        var first: String?
        readLines(fd: c.stdoutFD!) { if first == nil { first = String($0) } }
        close(c.stdoutFD!)
        #expect(first == "ready")
        return c
    }

    @Test func theKernelsChildrenListsNameEveryLiveChildAndNoOtherProcess() throws {
        let a = try child([:]), b = try child([:])
        defer { for c in [a, b] { c.signal(SIGKILL); _ = c.wait() } }
        let listed = try #require(ProcessTable.listedChildren(of: getpid()))
        #expect(Set(listed).isSuperset(of: [a.pid, b.pid]))
        #expect(listed.allSatisfy { ProcessTable.stat($0)?.parent == getpid() })
        #expect(ProcessTable.numericEntries("/proc/self/task").contains(getpid()))
        #expect(ProcessTable.numericEntries("/nonexistent/dir").isEmpty)
    }

    @Test func aScanFindsTheProcessesCarryingAValueWithTheKeysAsked() throws {
        let token = "scan-\(getpid())-\(monotonicNow())"
        let a = try child(["BATON_TEST_TOKEN": token, "BATON_TEST_NODE": "node-a"])
        let b = try child(["BATON_TEST_TOKEN": token + "x"])
        defer { for c in [a, b] { c.signal(SIGKILL); _ = c.wait() } }
        let found = ProcessTable.scan(environment: "BATON_TEST_TOKEN", token, reading: ["BATON_TEST_NODE", "BATON_TEST_ABSENT"])
        #expect(found.map(\.pid) == [a.pid])
        #expect(found.first?.values == ["BATON_TEST_NODE": "node-a"])
        #expect(found.first?.parent == getpid())
        #expect(found.first?.startTime == ProcessTable.stat(a.pid)?.startTime)
        #expect(ProcessTable.processes(withEnvironment: "BATON_TEST_TOKEN", token) == [a.pid])
    }

    @Test func aScanSinceAStartTimeSkipsTheProcessesStartedBefore() throws {
        let token = "since-\(getpid())-\(monotonicNow())"
        let a = try child(["BATON_TEST_TOKEN": token])
        defer { a.signal(SIGKILL); _ = a.wait() }
        let start = try #require(ProcessTable.stat(a.pid)?.startTime)
        #expect(ProcessTable.scan(environment: "BATON_TEST_TOKEN", token, startedSince: start).map(\.pid) == [a.pid])
        #expect(ProcessTable.scan(environment: "BATON_TEST_TOKEN", token, startedSince: start + 1).isEmpty)
    }

    @Test func aKilledProcessIsNoLongerLiveEvenBeforeItIsReaped() throws {
        let a = try child([:])
        let start = try #require(ProcessTable.stat(a.pid)?.startTime)
        #expect(ProcessTable.isLive(a.pid, startTime: start))
        #expect(!ProcessTable.isLive(a.pid, startTime: start + 1))
        #expect(ProcessTable.stat(getpid())?.isLive == true)
        a.signal(SIGKILL)
        // A zombie until reaped below: not live.
        #expect(pollUntil(atMost: 5, every: 0.01) { !ProcessTable.isAlive(a.pid) })
        #expect(ProcessTable.stat(a.pid) != nil)
        _ = a.wait()
        #expect(!ProcessTable.isLive(a.pid, startTime: start))
    }
}
