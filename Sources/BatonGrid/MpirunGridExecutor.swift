import BatonLaunch
import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs each config attempt as its own mpirun job on its node(s), every rank under
/// `baton exec`, through the launch code: `LaunchPlanner` builds the argv, `LaunchSupervisor`
/// (with no restart of its own) runs the one attempt, renews its leases, watches the
/// wrappers' heartbeats, mpirun's output and its agents, tears it down, and waits out the
/// lease of a silent node before it returns. The grid's only executor for real processes:
/// hosts from a hostfile, `-H`, Slurm or `--local N` differ only in the plan's mode.
///
/// - Contract: the grid's extension (the config's parameters, a checkpoint directory stable
///   across attempts, the attempt's metrics file, BATON_RESUME) goes into the plan, which
///   passes it to every wrapper as `baton exec` options; rank 0's wrapper forwards the
///   metrics file to the head while the attempt runs. The launch run directory of attempt
///   N of a config is `configs/<id>/mpirun/attempt-N` (its events, report, per-rank logs).
/// - Liveness: one supervisor thread per attempt. While it runs, the scheduler gets a
///   heartbeat for the attempt's nodes. When it ends with nodes lost, the scheduler gets
///   `nodeLost(fenced: true)`: the supervisor has already made sure nothing of the attempt
///   can still run (the node's processes are gone, or their lease has run out).
/// - Fault injection (`--fail-node`, `kill-node`) reaches nodes this machine can signal:
///   simulated nodes (their sessions).
public final class MpirunGridExecutor: ConfigExecutor {
    struct Settings: Sendable {
        var batonPath: String
        var mpirunPath = "mpirun"
        var mode: LaunchMode = .cluster
        /// The Slurm allocation the grid runs in (each attempt's and health check's srun step).
        var slurm: SlurmAllocation?
        var heartbeat: Double = 1
        var heartbeatTimeout: Double = 10
        /// The lease; the grid uses the heartbeat timeout.
        var lease: Double = 10
        var grace: Double = 5
        var startupTimeout: Double = 30
        /// How long a dead node's health check may take (its one-node mpirun).
        var healthTimeout: Double = 10
        /// Hang detection in every attempt (a hung config is a failed attempt, retried as any).
        var hang = HangSettings()
        /// Injected node failures (simulated nodes only).
        var failures: [Failure] = []
        /// The spec's `container:`: every rank of every attempt runs inside it.
        var container: ContainerRun?
        /// mpirun's environment (the head's, without the variables of an MPI job it runs in).
        var environment: [String: String]

        init(batonPath: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
            self.batonPath = batonPath
            self.environment = environment.filter { !MpirunGridExecutor.isMPIJobVariable($0.key) }
        }
    }

    /// `--fail-node NODE --fail-after T`: the node's processes get `signal` (SIGKILL: a
    /// crash, SIGSTOP: a hang) T after the first attempt started, and it fails its health
    /// checks for `downFor`.
    public struct Failure: Sendable {
        public var node: Int
        var after: Double
        public var signal: Int32
        var downFor: Double
        init(node: Int, after: Double, signal: Int32 = SIGKILL, downFor: Double = 30) {
            self.node = node
            self.after = after
            self.signal = signal
            self.downFor = downFor
        }
    }

    final class Attempt: @unchecked Sendable {
        let launch: AttemptLaunch
        let supervisor: LaunchSupervisor
        let console: GridAttemptConsole
        let done = Locked<LaunchReport?>(nil)
        /// Signalled once `done` is set.
        let finished = DispatchSemaphore(value: 0)
        var lastBeat = 0.0
        var sessionReported = false
        init(launch: AttemptLaunch, supervisor: LaunchSupervisor, console: GridAttemptConsole) {
            self.launch = launch
            self.supervisor = supervisor
            self.console = console
        }
    }

    let nodeNames: [String]
    let hosts: HostList
    let runDir: String
    let settings: Settings
    let wallOrigin = Date().timeIntervalSince1970
    let origin = monotonicNow()
    var attempts: [Int64: Attempt] = [:]
    /// Signalled by an attempt's thread once its supervisor has returned, so `poll` hears
    /// of the end at once rather than at its next 50 ms check (measured: 25 ms of a trivial
    /// config's 0.48 s went there, docs/benchmarks.md).
    let attemptEnded = DispatchSemaphore(value: 0)
    var pendingEvents: [ExecutorEvent] = []
    let token: String
    var failures: [Failure]
    var failuresBase: Double?
    var downUntil: [String: Double] = [:]

    init(hosts: HostList, runDir: String, settings: Settings) {
        self.hosts = hosts
        nodeNames = hosts.names
        self.runDir = runDir
        self.settings = settings
        failures = settings.failures
        token = runDir
    }

    /// Variables that tie a process to a running MPI job (set by mpirun, or by MPI_Init in a
    /// singleton). A head started under mpirun, or a test process that initialised MPI, must
    /// not pass them on: the config's own mpirun would take itself for part of that job
    /// (seen: it exits 1). User settings (other OMPI_MCA_*, OMPI_ALLOW_*) pass through.
    static func isMPIJobVariable(_ key: String) -> Bool {
        let prefixes = [
            "PMIX_", "OPAL_", "OMPI_COMM_WORLD_", "OMPI_MCA_orte_", "OMPI_MCA_ess", "OMPI_MCA_pmix", "OMPI_MCA_initial_wdir",
            "OMPI_MCA_shmem_", "OMPI_UNIVERSE_SIZE", "OMPI_FIRST_RANKS", "OMPI_NUM_APP_CTX", "OMPI_APP_CTX_NUM_PROCS",
            "OMPI_FILE_LOCATION", "OMPI_ARGV", "OMPI_COMMAND", "BATON_ATTEMPT_TOKEN", "BATON_AGENT_NODE",
        ]
        return prefixes.contains { key.hasPrefix($0) }
    }

    func now() -> Double { wallOrigin + (monotonicNow() - origin) }

    static func launchDir(_ runDir: String, _ configID: String, _ attempt: Int) -> String {
        RunDirectory(runDir).configAttemptLaunch(configID, attempt: attempt).path
    }

    func tokenValue(_ attemptID: Int64) -> String { "\(token)#\(attemptID)" }

    /// Where simulated nodes keep their agent and session files.
    var localDir: String? {
        if case .local(let agent) = settings.mode { return parentDirectory(agent) }
        return nil
    }

    /// The plan of one attempt (also what a dry run would show).
    func planner(for launch: AttemptLaunch) -> LaunchPlanner {
        var p = LaunchPlanner(
            mode: settings.mode, command: launch.argv, runDir: Self.launchDir(runDir, launch.configID, launch.attempt),
            batonPath: settings.batonPath, mpirunPath: settings.mpirunPath, heartbeat: settings.heartbeat,
            lease: settings.lease, grace: settings.grace)
        p.execPath = LaunchPlanner.leanWrapper(beside: settings.batonPath)
        p.machine.environment = settings.environment
        p.slurm = settings.slurm
        p.progressPattern = settings.hang.progressPattern
        p.progressKey = settings.hang.progressKey
        p.configID = launch.configID
        p.configJSON = launch.paramsJSON
        p.checkpointDir = launch.checkpointDir
        p.metricsFile = launch.metricsPath
        p.resume = launch.resume
        p.container = settings.container
        // The same for every attempt of the config (a launch: its run directory).
        p.runID = "\(runDir)#\(launch.configID)"
        return p
    }

    public func start(_ launch: AttemptLaunch) throws {
        try FileManager.default.createDirectory(
            atPath: RunDirectory(runDir).configCheckpoint(launch.configID), withIntermediateDirectories: true)
        if failuresBase == nil { failuresBase = now() }
        if let down = launch.nodes.first(where: { isMarkedDown(nodeNames[$0]) }) {
            pendingEvents.append(.nodeLost(attemptID: launch.attemptID, node: down, reason: "the node is down", fenced: true))
            return
        }
        let list = HostList(hosts: launch.nodes.map { BatonProtocol.Host(name: nodeNames[$0], slots: max(1, launch.ranksPerNode)) })
        var options = LaunchOptions(hosts: list, planner: planner(for: launch))
        options.maxRestarts = 0
        options.firstAttempt = launch.attempt
        options.heartbeatTimeout = settings.heartbeatTimeout
        options.startupTimeout = settings.startupTimeout
        var hang = settings.hang
        hang.onHang = .fail  // a hung config is a failed attempt: the grid retries it (maxRestarts 0)
        try? options.setHang(hang)
        let console = GridAttemptConsole(path: launch.logPath)
        console.message("# baton grid: attempt \(launch.attempt) of \(launch.configID) on \(list.names.joined(separator: ",")) (mpirun): \(launch.argv.joined(separator: " "))")
        var env = settings.environment
        env["BATON_GRID_ATTEMPT"] = tokenValue(launch.attemptID)
        let supervisor = try LaunchSupervisor(options: options, executor: MpirunExecutor(environment: env), console: console)
        let a = Attempt(launch: launch, supervisor: supervisor, console: console)
        a.lastBeat = now()
        attempts[launch.attemptID] = a
        let ended = attemptEnded
        startThread("baton-grid-attempt-\(launch.attemptID)") {
            let report = supervisor.run()
            console.close()
            a.done.with { $0 = report }
            a.finished.signal()
            ended.signal()
        }
        pendingEvents.append(.started(attemptID: launch.attemptID, pid: getpid(), session: 0))
    }

    func terminate(attemptID: Int64, reason: String) {
        guard let a = attempts.removeValue(forKey: attemptID) else { return }
        // Ctrl-C twice: SIGINT to every rank, then the teardown without waiting the grace.
        a.supervisor.interrupt()
        if a.finished.wait(timeout: .now() + 0.05) == .success { return }
        a.supervisor.interrupt()
        _ = a.finished.wait(timeout: .now() + settings.grace + 10 - 0.05)
    }

    func poll(until deadline: Double) -> [ExecutorEvent] {
        while true {
            var out = pendingEvents
            pendingEvents.removeAll()
            let t = now()
            injectFailures(t)
            for (id, a) in attempts.sorted(by: { $0.key < $1.key }) {
                // Its metrics lines first: a line written before the end is taken before it.
                for m in a.console.takeMetrics() { out.append(.metrics(attemptID: id, m)) }
                if let report = a.done.get {
                    attempts.removeValue(forKey: id)
                    out.append(event(for: a, report))
                    continue
                }
                // A simulated node's session, once its agent has started: what `kill-node`
                // and `status` show.
                if !a.sessionReported, let dir = localDir, let first = a.launch.nodes.first,
                   let sid = LocalNodes.session(of: nodeNames[first], dir: dir) {
                    a.sessionReported = true
                    out.append(.started(attemptID: id, pid: getpid(), session: sid))
                }
                if t - a.lastBeat >= 0.5 {
                    a.lastBeat = t
                    for n in a.launch.nodes { out.append(.heartbeat(attemptID: id, node: n)) }
                }
            }
            if !out.isEmpty || now() >= deadline { return out }
            // Heartbeats, sessions and injected failures are looked at every 50 ms; an
            // attempt's end wakes the loop at once (a signal left over from an end already
            // handled only costs one more pass).
            _ = attemptEnded.wait(timeout: .now() + max(0.001, min(0.05, deadline - now())))
        }
    }

    func injectFailures(_ t: Double) {
        guard !failures.isEmpty, let base = failuresBase, let dir = localDir else { return }
        let due = failures.filter { base + $0.after <= t }
        failures.removeAll { base + $0.after <= t }
        for f in due {
            let name = nodeNames[f.node]
            downUntil[name] = t + f.downFor
            LocalNodes.signal(node: name, dir: dir, f.signal)
        }
    }

    /// What the scheduler hears of an attempt the supervisor has finished.
    func event(for a: Attempt, _ report: LaunchReport) -> ExecutorEvent {
        let launch = a.launch
        let record = report.attempts.last
        let lines = GridFiles.lastWords(GridFiles.tail(launch.logPath, lines: 400), lines: 20)
        if let record, record.outcome == .nodesLost, let lost = record.lost.first,
            let node = nodeNames.firstIndex(of: lost.node)
        {
            return .nodeLost(attemptID: launch.attemptID, node: node,
                reason: "\(lost.cause), \(formatDuration(lost.detectionSeconds, .seconds(digits: 1))) after its last line",
                fenced: true)
        }
        let metrics = GridFiles.readMetrics(launch.metricsPath)
        if report.result == .completed {
            return .exited(attemptID: launch.attemptID, AttemptExit(code: 0, metrics: metrics, lastLines: lines))
        }
        var tail = lines
        tail.append("baton: \(report.reason)")
        switch record?.failedExit?.status {
        case .signaled(let s)?:
            return .exited(attemptID: launch.attemptID, AttemptExit(code: nil, signal: s, metrics: metrics, lastLines: tail))
        case .exited(let c)?:
            return .exited(attemptID: launch.attemptID, AttemptExit(code: c == 0 ? 1 : c, metrics: metrics, lastLines: tail))
        case nil:
            return .exited(attemptID: launch.attemptID, AttemptExit(code: 1, metrics: metrics, lastLines: tail))
        }
    }

    /// Down by an injected failure or a `kill-node --down-for` marker.
    func isMarkedDown(_ name: String) -> Bool {
        if let until = downUntil[name], until > now() { return true }
        return GridFiles.downUntil(runDir: runDir, node: name).map { $0 > now() } ?? false
    }

    /// A node is usable again when it is not marked down and passes the health gate a launch
    /// runs (`HealthGate`): one rank through mpirun on the node, with the attempts' Open MPI
    /// settings and agent, that is `baton-exec health` (the run directory writable with
    /// 256 MiB free), within `healthTimeout`. Inside Slurm a node `sinfo` reports down or
    /// drained fails without being tried.
    func healthCheck(node: Int) -> (problem: String?, seconds: Double) {
        if isMarkedDown(nodeNames[node]) { return ("marked down (--fail-node or kill-node --down-for)", 0) }
        var p = LaunchPlanner(mode: settings.mode, command: [], runDir: runDir, batonPath: settings.batonPath, mpirunPath: settings.mpirunPath)
        p.execPath = LaunchPlanner.leanWrapper(beside: settings.batonPath)
        p.machine.environment = settings.environment
        p.slurm = settings.slurm
        var gate = HealthGate(planner: p, timeout: settings.healthTimeout, directories: [runDir])
        gate.environment = settings.environment
        let result = gate.check(BatonProtocol.Host(name: nodeNames[node], slots: 1))
        if let dir = localDir { LocalNodes.clean(node: nodeNames[node], dir: dir) }
        return result
    }

    /// At the end of a run: forgets the session files and TMPDIR of every simulated node
    /// nothing runs on any more (a node marked down is never health-checked again, which is
    /// where they are otherwise cleaned).
    func cleanLocalNodes() {
        if let dir = localDir { LocalNodes.cleanAll(dir: dir) }
    }

    /// After the head was killed: its mpirun lost its stdin, so the wrappers fence within a
    /// lease; whatever of the attempt still runs where this machine can see it (mpirun, and
    /// on simulated nodes and the test bed the ranks) is killed. The report in the attempt's
    /// launch store says whether the attempt had finished.
    func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit? {
        let token = tokenValue(attemptID)
        Teardown(afterKill: 5).run(against: .processes { ProcessTable.processes(withEnvironment: "BATON_GRID_ATTEMPT", token) })
        // The killed agents never removed their simulated node's TMPDIR.
        cleanLocalNodes()
        guard let r = LaunchRunFiles.report(RunDirectory(runDir).configAttemptLaunch(configID, attempt: attempt).path) else { return nil }
        let metricsPath = RunDirectory(runDir).configAttemptMetrics(configID, attempt: attempt)
        return AttemptExit(code: r.result == .completed ? 0 : 1, metrics: GridFiles.readMetrics(metricsPath))
    }
}

/// Files of a grid run the executor reads: metrics, log tails, down markers.
enum GridFiles {
    /// The last value of every numeric field over all JSON lines of a metrics file.
    static func readMetrics(_ path: String?) -> [String: Double] {
        guard let path, let data = FileManager.default.contents(atPath: path) else { return [:] }
        var out: [String: Double] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            out.merge(numericFields(Data(line))) { $1 }
        }
        return out
    }

    /// The numeric fields of one JSON metrics line (none when it is not a JSON object).
    static func numericFields(_ line: String) -> [String: Double] { numericFields(Data(line.utf8)) }

    static func numericFields(_ line: Data) -> [String: Double] {
        guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { return [:] }
        var out: [String: Double] = [:]
        for (k, v) in obj {
            if let n = v as? NSNumber { out[k] = n.doubleValue }
        }
        return out
    }

    static func tail(_ path: String?, lines: Int) -> [String] {
        guard let path, let h = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? h.close() }
        let size = h.seekToEndOfFile()
        h.seek(toFileOffset: size > 16384 ? size - 16384 : 0)
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return Array(text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }.suffix(lines))
    }

    /// The last `lines` lines of an attempt's log for its result, in order, mpirun's own
    /// (`mpirun: ...`) taking only what the ranks' lines leave, but at least
    /// `mpirunAtMost`: an mpirun that crashes in its abort prints a 20-line backtrace (Open
    /// MPI 4.1.4, PMIx_Finalize; seen in 42), which pushed the rank's own last words, such
    /// as why its command could not start, out.
    static func lastWords(_ all: [String], lines: Int, mpirunAtMost: Int = 6) -> [String] {
        let isMpirun = all.map { $0.hasPrefix("mpirun: ") }
        let mpirunIndices = all.indices.filter { isMpirun[$0] }
        let rankIndices = all.indices.filter { !isMpirun[$0] }
        let keptMpirun = Set(mpirunIndices.suffix(max(mpirunAtMost, lines - rankIndices.count)))
        let keptRank = Set(rankIndices.suffix(max(0, lines - keptMpirun.count)))
        return Array(all.indices.filter { keptMpirun.contains($0) || keptRank.contains($0) }.map { all[$0] }.suffix(lines))
    }

    /// Where `baton grid kill-node --down-for` leaves the time a node is back.
    static func downMarker(runDir: String, node: String) -> String {
        RunDirectory(runDir).nodeDown(node)
    }

    static func downUntil(runDir: String, node: String) -> Double? {
        guard let text = try? String(contentsOfFile: downMarker(runDir: runDir, node: node), encoding: .utf8) else { return nil }
        return Double(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Where a grid attempt's supervisor writes: the attempt's log (rank lines tagged
/// `node:rank`, the head's and mpirun's messages); status lines are dropped. Rank 0's
/// metrics lines wait here, decoded, for the executor's next poll.
final class GridAttemptConsole: LaunchConsole, @unchecked Sendable {
    let fd: Locked<Int32>
    let metrics = Locked([[String: Double]]())

    func metric(_ line: String) {
        let fields = GridFiles.numericFields(line)
        if !fields.isEmpty { metrics.with { $0.append(fields) } }
    }

    func takeMetrics() -> [[String: Double]] { metrics.with { m in defer { m.removeAll() }; return m } }

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
}
