import Foundation
import Testing
@testable import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite struct TeardownTests {
    let env = ProcessInfo.processInfo.environment

    /// A shell that ignores SIGTERM (and so does the `sleep` it becomes: an ignored
    /// disposition survives exec); returns once the shell says its trap is set.
    func stubborn(_ script: String = "exec sleep 30") throws -> ChildProcess {
        let child = try ChildProcess.spawn(["sh", "-c", "trap '' TERM; echo ready; exec >/dev/null; " + script], environment: env,
                                           stdin: .null, stdout: .pipe, stderr: .null)
        var first: String?
        readLines(fd: child.stdoutFD!) { line in
            if first == nil { first = String(line) }
        }
        close(child.stdoutFD!)
        #expect(first == "ready")
        return child
    }

    @Test func aChildThatIgnoresSIGTERMIsKilledOnceTheGraceIsOver() throws {
        let child = try stubborn()
        let start = monotonicNow()
        let result = Teardown.gracefulShutDown(grace: 0.5).run(against: .child(child))
        let elapsed = monotonicNow() - start
        #expect(result.killed)
        #expect(result.status == .signaled(SIGKILL))
        #expect(elapsed >= 0.5)
        #expect(elapsed < 3)
    }

    @Test func aChildThatEndsOnSIGTERMIsNeverSentSIGKILL() throws {
        let child = try ChildProcess.spawn(["sleep", "30"], environment: env, stdin: .null, stdout: .null, stderr: .null)
        let start = monotonicNow()
        let result = Teardown.gracefulShutDown(grace: 10).run(against: .child(child))
        #expect(!result.killed)
        #expect(result.status == .signaled(SIGTERM))
        #expect(monotonicNow() - start < 5)
    }

    @Test func aChildThatHasEndedGetsNoSignalAtAll() throws {
        let child = try ChildProcess.spawn(["true"], environment: env, stdin: .null, stdout: .null, stderr: .null)
        _ = child.wait()
        let result = Teardown.gracefulShutDown(grace: 10).run(against: .child(child))
        #expect(!result.killed)
        #expect(result.status == .exited(0))
    }

    @Test func stepsRunInOrderAndTheTimeBoundHolds() throws {
        let child = try stubborn()
        let start = monotonicNow()
        let result = Teardown([.send(signal: SIGTERM), .wait(atMost: 0.3), .gracefulShutDown(allowedDurationToNextStep: 0.3)])
            .run(against: .child(child))
        let elapsed = monotonicNow() - start
        #expect(result.status == .signaled(SIGKILL))
        #expect(elapsed >= 0.6)
        #expect(elapsed < 3)
    }

    @Test func processesFoundByAClosureAreKilledAndWaitedFor() throws {
        let child = try stubborn()
        let pid = child.pid
        let find = { ProcessTable.stat(pid).map { $0.isZombie ? [] : [pid] } ?? [] }
        let start = monotonicNow()
        // Our own child stays a zombie until reaped, which `find` does not count.
        let result = Teardown.gracefulShutDown(grace: 0.3, afterKill: 2).run(against: .processes(find))
        #expect(result.killed)
        #expect(result.killedPIDs == [pid])
        #expect(result.left.isEmpty)
        #expect(monotonicNow() - start < 3)
        #expect(child.wait() == .signaled(SIGKILL))
    }

    @Test func aListingGivenByTheCallerIsKilledWithoutAnotherLook() throws {
        let child = try stubborn()
        let pid = child.pid
        let looks = Locked(0)
        let find = { () -> [pid_t] in
            looks.with { $0 += 1 }
            return ProcessTable.isAlive(pid) ? [pid] : []
        }
        let result = Teardown(afterKill: 2).run(against: .processes(find), listed: [pid])
        #expect(result.killedPIDs == [pid])
        #expect(result.left.isEmpty)
        // One look after the SIGSTOP (a fork in between), one once the killed are gone.
        #expect(looks.get == 2)
        #expect(child.wait() == .signaled(SIGKILL))
    }

    @Test func aProcessGroupIsKilledWhole() throws {
        let child = try stubborn("sleep 30 & sleep 30; wait")
        let result = Teardown.gracefulShutDown(grace: 0.3, afterKill: 5).run(against: .processGroup(child.pid))
        #expect(result.killed)
        #expect(result.killedPIDs.contains(child.pid))
        #expect(child.wait() == .signaled(SIGKILL))
        #expect(Teardown.Target.processGroup(child.pid).waitUntilGone(atMost: 5))
    }

    @Test func theBoundedPollGivesUpAtItsBound() {
        let start = monotonicNow()
        #expect(!pollUntil(atMost: 0.2, every: 0.05) { false })
        let elapsed = monotonicNow() - start
        #expect(elapsed >= 0.2)
        #expect(elapsed < 1)
        #expect(pollUntil(atMost: 10, every: 0.05) { true })
    }
}
