import Foundation
import Testing
@testable import BatonCore
@testable import BatonExec
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
}
