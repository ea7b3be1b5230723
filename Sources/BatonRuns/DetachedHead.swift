import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A head process that outlives its terminal, for every kind of run (`baton grid --detach`,
/// `baton launch --detach`): the one way to start one and the one way to ask whether the
/// head of a run directory is still alive.
public enum DetachedHead {
    /// The file in a launch run directory holding its head's pid (a grid keeps it in its store).
    public static let pidFile = "head.pid"
    /// The file a detached head's output goes to.
    public static let logFile = "head.log"

    /// The running `baton` binary.
    public static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Starts `baton ARGUMENTS` as a head of its own: a new session (it outlives the
    /// terminal), stdin from /dev/null, output appended to `log`.
    public static func detach(arguments: [String], log: String) throws(SpawnError) -> pid_t {
        try ChildProcess.spawn([executablePath()] + arguments, environment: ProcessInfo.processInfo.environment,
                               stdin: .null, stdout: .append(log), stderr: .append(log), grouping: .session).pid
    }

    /// `pid` when it is a live (not zombie) `baton SUBCOMMAND` other than this process.
    public static func alive(_ pid: Int32?, subcommand: String) -> Int32? {
        guard let pid, pid > 0, pid != getpid() else { return nil }
        guard ProcessTable.arguments(pid).contains(subcommand), let st = ProcessTable.stat(pid), !st.isZombie else { return nil }
        return pid
    }

    /// Records this process as the head of the launch run in `runDir` (temp + rename).
    public static func recordLaunchHead(runDir: String) throws {
        let path = (runDir as NSString).appendingPathComponent(pidFile)
        try String(getpid()).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The live head of the launch run in `runDir`, if any.
    public static func launchHead(runDir: String) -> Int32? {
        let path = (runDir as NSString).appendingPathComponent(pidFile)
        let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return alive(text.flatMap(Int32.init), subcommand: "launch")
    }
}
