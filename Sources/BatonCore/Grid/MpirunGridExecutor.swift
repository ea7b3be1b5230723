import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs each config attempt as its own mpirun job on its node(s), every rank under
/// `baton exec`, through the launch code: `LaunchPlanner` builds the argv, `LaunchSupervisor`
/// (with no restart of its own) runs the one attempt, renews its leases, watches the
/// wrappers' heartbeats and mpirun's output, tears it down, and waits out the lease of a
/// silent node before it returns.
///
/// - Environment: the grid's contract (`AttemptLaunch.environment`: BATON_CONFIG,
///   BATON_CONFIG_ID, BATON_CHECKPOINT_DIR stable across attempts, BATON_RESUME,
///   BATON_ATTEMPT, BATON_METRICS, ...) reaches every rank as `baton exec --env K=V`, set
///   after the wrapper's own contract. The launch run directory of attempt N of a config is
///   `configs/<id>/mpirun/attempt-N` (its events, report, per-rank logs).
/// - Liveness: one supervisor thread per attempt. While it runs, the scheduler gets a
///   heartbeat for the attempt's nodes (the supervisor applies the same
///   `--heartbeat-timeout` to the real heartbeats). When it ends with nodes lost, the
///   scheduler gets `nodeLost(fenced: true)`: either mpirun named the node's daemon lost
///   (a crash: the wrappers lost their stdin with it and nothing can run on), or the node
///   went silent and the supervisor already waited out its lease (so the old attempt has
///   fenced itself). The config then moves at once.
public final class MpirunGridExecutor: ConfigExecutor {
    public struct Settings: Sendable {
        public var batonPath: String
        public var mpirunPath = "mpirun"
        public var mode: LaunchMode = .cluster
        public var heartbeat: Double = 1
        public var heartbeatTimeout: Double = 10
        /// The lease; the grid uses the heartbeat timeout.
        public var lease: Double = 10
        public var grace: Double = 5
        public var startupTimeout: Double = 30
        /// mpirun's environment (the head's, without the variables of an MPI job it runs in).
        public var environment: [String: String]

        public init(batonPath: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
            self.batonPath = batonPath
            self.environment = environment.filter { !LocalGridExecutor.isMPIJobVariable($0.key) }
        }
    }

    final class Attempt: @unchecked Sendable {
        let launch: AttemptLaunch
        let supervisor: LaunchSupervisor
        let done = Locked<LaunchReport?>(nil)
        var lastBeat = 0.0
        init(launch: AttemptLaunch, supervisor: LaunchSupervisor) {
            self.launch = launch
            self.supervisor = supervisor
        }
    }

    public let nodeNames: [String]
    let hosts: HostList
    let runDir: String
    let settings: Settings
    let wallOrigin = Date().timeIntervalSince1970
    let origin = monotonicNow()
    var attempts: [Int64: Attempt] = [:]
    var pendingEvents: [ExecutorEvent] = []
    let token: String

    public init(hosts: HostList, runDir: String, settings: Settings) {
        self.hosts = hosts
        nodeNames = hosts.names
        self.runDir = runDir
        self.settings = settings
        token = runDir
    }

    public func now() -> Double { wallOrigin + (monotonicNow() - origin) }

    static func launchDir(_ runDir: String, _ configID: String, _ attempt: Int) -> String {
        (GridRunLayout.configDir(runDir, configID) as NSString).appendingPathComponent("mpirun/attempt-\(attempt)")
    }

    func tokenValue(_ attemptID: Int64) -> String { "\(token)#\(attemptID)" }

    /// The plan of one attempt (also what a dry run would show).
    func planner(for launch: AttemptLaunch) -> LaunchPlanner {
        var p = LaunchPlanner(
            mode: settings.mode, command: launch.argv, runDir: Self.launchDir(runDir, launch.configID, launch.attempt),
            batonPath: settings.batonPath, mpirunPath: settings.mpirunPath, heartbeat: settings.heartbeat,
            lease: settings.lease, grace: settings.grace)
        p.configID = launch.configID
        var env = launch.environment
        env["BATON_GRID_ATTEMPT"] = tokenValue(launch.attemptID)
        p.extraExecArguments = env.sorted { $0.key < $1.key }.flatMap { ["--env", "\($0.key)=\($0.value)"] }
        return p
    }

    public func start(_ launch: AttemptLaunch) throws {
        try FileManager.default.createDirectory(
            atPath: GridRunLayout.checkpointDir(runDir, launch.configID), withIntermediateDirectories: true)
        let list = HostList(hosts: launch.nodes.map { Host(name: nodeNames[$0], slots: max(1, launch.ranksPerNode)) })
        var options = LaunchOptions(hosts: list, planner: planner(for: launch))
        options.maxRestarts = 0
        options.heartbeatTimeout = settings.heartbeatTimeout
        options.startupTimeout = settings.startupTimeout
        let console = GridAttemptConsole(path: launch.logPath)
        console.message("# baton grid: attempt \(launch.attempt) of \(launch.configID) on \(list.names.joined(separator: ",")) (mpirun): \(launch.argv.joined(separator: " "))")
        var env = settings.environment
        env["BATON_GRID_ATTEMPT"] = tokenValue(launch.attemptID)
        let supervisor = try LaunchSupervisor(options: options, executor: MpirunExecutor(environment: env), console: console)
        let a = Attempt(launch: launch, supervisor: supervisor)
        a.lastBeat = now()
        attempts[launch.attemptID] = a
        startThread("baton-grid-attempt-\(launch.attemptID)") {
            let report = supervisor.run()
            console.close()
            a.done.with { $0 = report }
        }
        pendingEvents.append(.started(attemptID: launch.attemptID, pid: getpid(), session: 0))
    }

    public func terminate(attemptID: Int64, reason: String) {
        guard let a = attempts.removeValue(forKey: attemptID) else { return }
        // Ctrl-C twice: SIGINT to every rank, then the teardown without waiting the grace.
        a.supervisor.interrupt()
        let deadline = monotonicNow() + settings.grace + 10
        var second = false
        while a.done.get == nil && monotonicNow() < deadline {
            usleep(50_000)
            if !second { a.supervisor.interrupt(); second = true }
        }
    }

    public func poll(until deadline: Double) -> [ExecutorEvent] {
        while true {
            var out = pendingEvents
            pendingEvents.removeAll()
            let t = now()
            for (id, a) in attempts.sorted(by: { $0.key < $1.key }) {
                if let report = a.done.get {
                    attempts.removeValue(forKey: id)
                    out.append(event(for: a, report))
                } else if t - a.lastBeat >= 0.5 {
                    a.lastBeat = t
                    for n in a.launch.nodes { out.append(.heartbeat(attemptID: id, node: n)) }
                }
            }
            if !out.isEmpty || now() >= deadline { return out }
            usleep(UInt32(max(1_000, min(50_000, (deadline - now()) * 1e6))))
        }
    }

    /// What the scheduler hears of an attempt the supervisor has finished.
    func event(for a: Attempt, _ report: LaunchReport) -> ExecutorEvent {
        let launch = a.launch
        let record = report.attempts.last
        let lines = GridAttemptConsole.tail(launch.logPath, lines: 20)
        if let record, record.outcome == "nodes lost", let lost = record.lost.first,
            let node = nodeNames.firstIndex(of: lost.node)
        {
            return .nodeLost(attemptID: launch.attemptID, node: node,
                reason: "\(lost.cause), \(String(format: "%.1f", lost.detectionSeconds)) s after its last line",
                fenced: true)
        }
        let metrics = LocalGridExecutor.readMetrics(launch.metricsPath)
        if report.result == "completed" {
            return .exited(attemptID: launch.attemptID, AttemptExit(code: 0, metrics: metrics, lastLines: lines))
        }
        var code: Int32 = 1
        var signal: Int32?
        if let status = record?.failedStatus {
            // `code=N` or `signal=S ...` from the wrapper's exit line.
            for word in status.split(separator: " ") {
                if word.hasPrefix("code="), let c = Int32(word.dropFirst(5)) { code = c }
                if word.hasPrefix("signal="), let s = Int32(word.dropFirst(7)) { signal = s }
            }
        }
        if code == 0 { code = 1 }
        var tail = lines
        tail.append("baton: \(report.reason)")
        return .exited(attemptID: launch.attemptID, AttemptExit(code: signal == nil ? code : nil, signal: signal, metrics: metrics, lastLines: tail))
    }

    /// A node is usable again when a one-rank mpirun on it runs `true` within 20 s.
    public func healthCheck(node: Int) -> Bool {
        var argv = [settings.mpirunPath, "--host", "\(nodeNames[node]):1", "-np", "1"]
        if case .local(let agent) = settings.mode { argv += ["--mca", "plm_rsh_agent", agent] }
        argv.append("true")
        guard let child = try? ChildProcess.spawn(argv, environment: settings.environment, stdin: .null, stdout: .null, stderr: .null)
        else { return false }
        let deadline = monotonicNow() + 20
        while monotonicNow() < deadline {
            if let st = child.poll() { return st == .exited(0) }
            usleep(50_000)
        }
        _ = child.signal(SIGKILL)
        let d2 = monotonicNow() + 2
        while child.poll() == nil && monotonicNow() < d2 { usleep(20_000) }
        return false
    }

    /// After the head was killed: its mpirun lost its stdin, so the wrappers fence within a
    /// lease; whatever of the attempt still runs where this machine can see it (mpirun, and
    /// on the test bed the ranks) is killed. A report the supervisor wrote says whether the
    /// attempt had finished.
    public func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit? {
        let entry = "BATON_GRID_ATTEMPT=\(tokenValue(attemptID))"
        for _ in 0..<3 {
            let procs = GridProcess.processes(withEnvironment: entry)
            if procs.isEmpty { break }
            for p in procs { kill(p, SIGKILL) }
            usleep(100_000)
        }
        let report = (Self.launchDir(runDir, configID, attempt) as NSString).appendingPathComponent("report.json")
        guard let data = FileManager.default.contents(atPath: report),
            let r = try? JSONDecoder().decode(LaunchReport.self, from: data)
        else { return nil }
        let metricsPath = (GridRunLayout.configDir(runDir, configID) as NSString).appendingPathComponent("attempt-\(attempt).metrics.jsonl")
        return AttemptExit(code: r.result == "completed" ? 0 : 1, metrics: LocalGridExecutor.readMetrics(metricsPath))
    }
}

/// Where a grid attempt's supervisor writes: the attempt's log (rank lines tagged
/// `node:rank`, the head's and mpirun's messages); status lines are dropped.
final class GridAttemptConsole: LaunchConsole, @unchecked Sendable {
    let fd: Locked<Int32>

    init(path: String?) {
        fd = Locked(path.map { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) } ?? -1)
    }

    func write(_ text: String) {
        fd.with { if $0 >= 0 { _ = writeAll(fd: $0, text + "\n") } }
    }

    func rankLine(node: String, rank: Int, text: String, isError: Bool) { write("\(node):\(rank) \(text)") }
    func message(_ text: String) { write(text) }
    func status(_ text: String) {}
    func close() {
        fd.with { if $0 >= 0 { Glibc.close($0); $0 = -1 } }
    }

    static func tail(_ path: String?, lines: Int) -> [String] { LocalGridExecutor.tail(path, lines: lines) }
}
