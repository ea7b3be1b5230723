import BatonProtocol
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What every head process has in common, for every kind of run (`baton launch`,
/// `baton grid`): its registration in `RUN/head.pid` and the one way to ask whether the head
/// of a run directory is alive; the one way to start a head that outlives its terminal (and
/// the one place its argv is built); its signals.
public enum DetachedHead {
    /// The kind of head, which is also its subcommand (`baton launch`, `baton grid`).
    public enum Kind: String, Sendable, Codable {
        case launch, grid
    }

    /// The file in a run directory holding its head's pid.
    static let pidFile = RunDirectory.Relative.headPID
    /// The file a detached head's output goes to.
    static let logFile = RunDirectory.Relative.headLog
    /// The option a detached head is started with: its request, as JSON (`detach`).
    static let requestOption = "--detached-head"

    /// The running `baton` binary.
    public static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Starts `baton KIND --detached-head REQUEST` as the head of the run in `runDir`: a new
    /// session (it outlives the terminal), stdin from /dev/null, output appended to
    /// `RUN/head.log`, its pid in `RUN/head.pid` at once (the head writes it again itself).
    /// The request is everything the head needs, as the caller's Codable value: nothing of the
    /// caller's command line is parsed again.
    public static func detach<Request: Encodable>(_ kind: Kind, request: Request, runDir: String) throws
        -> (pid: pid_t, log: String)
    {
        let json = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        let log = RunDirectory(runDir).headLog
        let pid = try ChildProcess.spawn([executablePath(), kind.rawValue, requestOption, json],
                                         environment: ProcessInfo.processInfo.environment,
                                         stdin: .null, stdout: .append(log), stderr: .append(log), grouping: .session).pid
        try record(pid, runDir: runDir)
        return (pid, log)
    }

    /// The request a detached head was started with.
    public static func request<Request: Decodable>(_ type: Request.Type, from json: String) throws -> Request {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    /// `pid` when it is a live (not zombie) `baton KIND` other than this process.
    static func alive(_ pid: Int32?, kind: Kind) -> Int32? {
        guard let pid, pid > 0, pid != getpid() else { return nil }
        guard ProcessTable.arguments(pid).contains(kind.rawValue), let st = ProcessTable.stat(pid), !st.isZombie else { return nil }
        return pid
    }

    /// Records this process as the head of the run in `runDir` (temp + rename).
    public static func register(runDir: String) throws {
        try record(getpid(), runDir: runDir)
    }

    static func record(_ pid: pid_t, runDir: String) throws {
        try String(pid).write(toFile: RunDirectory(runDir).headPID, atomically: true, encoding: .utf8)
    }

    /// The live head of the run in `runDir`, if any: the pid in `RUN/head.pid`, else
    /// `stored` (a grid made before its head wrote the file keeps the pid in its store).
    public static func alive(runDir: String, kind: Kind, stored: Int32? = nil) -> Int32? {
        let path = RunDirectory(runDir).headPID
        let text = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return alive(text.flatMap(Int32.init) ?? stored, kind: kind)
    }
}
