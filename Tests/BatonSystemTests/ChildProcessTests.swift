import Foundation
import Testing
@testable import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ChildProcessTests {
    func output(of child: ChildProcess) -> [String] {
        var lines: [String] = []
        readLines(fd: child.stdoutFD!) { lines.append(String($0)) }
        close(child.stdoutFD!)
        return lines
    }

    @Test func argumentsReachTheCommandVerbatimWithoutAShell() throws {
        let tricky = ["$(id)", "a;b", "`x`", "it's", "two words", "*"]
        let child = try ChildProcess.spawn(["printf", "%s\\n"] + tricky, environment: ProcessInfo.processInfo.environment,
                                           stdin: .null, stdout: .pipe, stderr: .inherit)
        #expect(output(of: child) == tricky)
        #expect(child.wait() == .exited(0))
    }

    @Test func childRunsInItsOwnProcessGroup() throws {
        let child = try ChildProcess.spawn(["sh", "-c", "ps -o pgid= -p $$"], environment: ProcessInfo.processInfo.environment,
                                           stdin: .null, stdout: .pipe, stderr: .inherit)
        let pgid = output(of: child).first?.trimmingCharacters(in: .whitespaces)
        #expect(pgid == String(child.pid))
        #expect(pgid != String(getpgrp()))
        _ = child.wait()
    }

    @Test func signalToTheGroupReachesGrandchildren() throws {
        let child = try ChildProcess.spawn(["sh", "-c", "sleep 30 & sleep 30; wait"], environment: ProcessInfo.processInfo.environment,
                                           stdin: .null, stdout: .null, stderr: .null)
        #expect(child.signal(SIGTERM))
        #expect(child.wait() == .signaled(SIGTERM))
        // The background sleep was in the same group: nothing of it survives (it may take a
        // moment to be reaped by init, so poll with a bound well below its 30 s).
        let deadline = monotonicNow() + 5
        while kill(-child.pid, 0) == 0 && monotonicNow() < deadline { usleep(10_000) }
        #expect(kill(-child.pid, 0) != 0)
    }

    @Test func exitCodesAndSignalsFollowTheShellConvention() throws {
        let env = ProcessInfo.processInfo.environment
        #expect(try ChildProcess.spawn(["sh", "-c", "exit 7"], environment: env).wait().code == 7)
        #expect(try ChildProcess.spawn(["sh", "-c", "kill -9 $$"], environment: env).wait().code == 137)
    }

    @Test func missingExecutableIsASpawnError() {
        #expect(throws: SpawnError.self) {
            try ChildProcess.spawn(["/nonexistent/baton-test-xyz"], environment: [:])
        }
    }

    @Test func longLinesComeInPiecesAndAPartialLastLineIsKept() throws {
        let child = try ChildProcess.spawn(["sh", "-c", "head -c 40000 /dev/zero | tr '\\\\0' a; echo; printf tail"],
                                           environment: ProcessInfo.processInfo.environment, stdin: .null, stdout: .pipe)
        var lines: [String] = []
        readLines(fd: child.stdoutFD!, maxLine: 16 * 1024) { lines.append(String($0)) }
        _ = child.wait()
        #expect(lines.map(\.count) == [16384, 16384, 40000 - 32768, 4])
        #expect(lines.last == "tail")
    }

    /// A simulated node's crash: nobody of the node lives to see another of its processes
    /// die. The shell waits for its child and would write a file when the child is gone;
    /// the listing names the shell only from its second call on (a process that shows up
    /// between rounds, as a fork would). Both must die by SIGKILL and the file never appear.
    @Test func aKillOfSeveralProcessesIsACrashNobodyWitnesses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-crash-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shell = try ChildProcess.spawn(
            ["sh", "-c", "sleep 30 & echo $! > \"$1/pid.tmp\" && mv \"$1/pid.tmp\" \"$1/pid\"; wait; echo seen > \"$1/seen\"", "sh", dir],
            environment: ProcessInfo.processInfo.environment, stdin: .null, stdout: .null, stderr: .null)
        let deadline = monotonicNow() + 10
        var child: pid_t?
        while child == nil && monotonicNow() < deadline {
            child = (try? String(contentsOfFile: "\(dir)/pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if child == nil { usleep(10_000) }
        }
        guard let child else {
            _ = shell.signal(SIGKILL)
            Issue.record("the shell never wrote its child's pid")
            return
        }
        var calls = 0
        let reached = ProcessTable.signal({
            calls += 1
            return calls == 1 ? [child] : [child, shell.pid]
        }, SIGKILL)
        #expect(reached == 2)
        #expect(shell.wait() == .signaled(SIGKILL))
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/seen"))
        let gone = monotonicNow() + 5
        while kill(child, 0) == 0 && monotonicNow() < gone { usleep(10_000) }
        #expect(kill(child, 0) != 0)
    }
}
