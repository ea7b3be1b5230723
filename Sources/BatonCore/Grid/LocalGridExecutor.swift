import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs configs as real processes on this machine, each simulated node one session.
///
/// - An attempt is one session (`setsid`): the command, or `mpirun --oversubscribe -np R`
///   over it when `ranks_per_node` > 1 (Open MPI gives each rank its own process group but
///   they stay in the session). Killing a node means killing every process of its session.
/// - Heartbeat: the session leader is alive and not stopped (`T` in /proc/PID/stat), so a
///   SIGSTOPped node goes silent the way a hung one does.
/// - The leader killed by a signal Baton did not send is a node loss; nothing of the
///   attempt is left (the session is swept), so the hand-off needs no lease wait.
/// - With `wrapper` set (the `baton` binary), the command runs under
///   `baton grid _attempt --exit-file F`, which records the exit code in the run directory;
///   `--resume` uses it for attempts that ended while no head was watching.
public final class LocalGridExecutor: ConfigExecutor {
    public struct Failure: Sendable {
        public var node: Int
        public var after: Double
        /// SIGKILL (crash) or SIGSTOP (hang).
        public var signal: Int32
        public var downFor: Double
        public init(node: Int, after: Double, signal: Int32 = SIGKILL, downFor: Double = 30) {
            self.node = node
            self.after = after
            self.signal = signal
            self.downFor = downFor
        }
    }

    struct Job {
        var launch: AttemptLaunch
        var pid: pid_t
        var lastBeat = 0.0
    }

    public let nodeNames: [String]
    let runDir: String
    let wrapper: [String]?
    let grace: Double
    let origin = GridProcess.monotonic()
    let wallOrigin = Date().timeIntervalSince1970
    var jobs: [Int64: Job] = [:]
    var pendingEvents: [ExecutorEvent] = []
    var failures: [Failure]
    /// Attempts whose session an injected failure killed, and the node it was for.
    var injectedLoss: [Int64: Int] = [:]
    /// Failure times count from the first attempt's start.
    var failuresBase: Double?
    var downUntil: [Double]
    /// Identifies this run's attempts in process environments (orphan search on resume).
    let token: String

    /// - Parameters:
    ///   - wrapper: argv prefix that runs a command and records its exit, e.g.
    ///     `[baton, "grid", "_attempt"]`; nil runs commands directly.
    public init(nodes: Int, runDir: String, wrapper: [String]? = nil, failures: [Failure] = [], grace: Double = 3) {
        nodeNames = (0..<nodes).map { "local-\($0)" }
        self.runDir = runDir
        self.wrapper = wrapper
        self.failures = failures
        self.grace = grace
        downUntil = Array(repeating: 0, count: nodes)
        token = runDir
    }

    /// Wall-clock seconds (stored times are Unix times), advanced monotonically.
    public func now() -> Double { wallOrigin + (GridProcess.monotonic() - origin) }

    static func exitFile(_ runDir: String, _ configID: String, _ attempt: Int) -> String {
        (GridRunLayout.configDir(runDir, configID) as NSString).appendingPathComponent("attempt-\(attempt).exit")
    }

    func tokenEntry(_ attemptID: Int64) -> String { "BATON_GRID_ATTEMPT=\(token)#\(attemptID)" }

    public func start(_ launch: AttemptLaunch) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: GridRunLayout.checkpointDir(runDir, launch.configID), withIntermediateDirectories: true)
        var argv = launch.argv
        let ranks = launch.ranksPerNode * launch.nodes.count
        if ranks > 1 {
            var mpirun = ["mpirun", "--oversubscribe", "-np", String(ranks)]
            if getuid() == 0 && ProcessInfo.processInfo.environment["OMPI_ALLOW_RUN_AS_ROOT"] == nil {
                mpirun.append("--allow-run-as-root")
            }
            argv = mpirun + argv
        }
        if let wrapper {
            argv = wrapper + ["--exit-file", LocalGridExecutor.exitFile(runDir, launch.configID, launch.attempt), "--"] + argv
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in launch.environment { env[k] = v }
        if ranks == 1 {
            // The torch-style variables of a one-rank world (under mpirun, the ranks have
            // Open MPI's OMPI_COMM_WORLD_* instead; `baton exec` will set both).
            for (k, v) in ["RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1", "NODE_RANK": "0", "NNODES": "1"] {
                env[k] = v
            }
        }
        let entry = tokenEntry(launch.attemptID)
        env["BATON_GRID_ATTEMPT"] = String(entry.dropFirst("BATON_GRID_ATTEMPT=".count))
        if let log = launch.logPath {
            let header = "# baton grid: attempt \(launch.attempt) of \(launch.configID) on \(launch.nodes.map { nodeNames[$0] }.joined(separator: ",")): \(argv.joined(separator: " "))\n"
            if !fm.fileExists(atPath: log) { _ = fm.createFile(atPath: log, contents: nil) }
            if let h = FileHandle(forWritingAtPath: log) {
                h.seekToEndOfFile()
                h.write(Data(header.utf8))
                try? h.close()
            }
        }
        let t = now()
        if failuresBase == nil { failuresBase = t }
        if let down = launch.nodes.first(where: { !healthCheck(node: $0) }) {
            jobs[launch.attemptID] = Job(launch: launch, pid: -1)
            pendingEvents.append(.nodeLost(attemptID: launch.attemptID, node: down, reason: "the node is down", fenced: true))
            return
        }
        let pid: pid_t
        do {
            pid = try GridProcess.spawn(argv, environment: env, logPath: launch.logPath)
        } catch {
            pendingEvents.append(
                .exited(attemptID: launch.attemptID, AttemptExit(code: 127, lastLines: ["baton: \(error)"])))
            return
        }
        jobs[launch.attemptID] = Job(launch: launch, pid: pid, lastBeat: t)
        pendingEvents.append(.started(attemptID: launch.attemptID, pid: pid, session: pid))
    }

    public func terminate(attemptID: Int64, reason: String) {
        guard let job = jobs.removeValue(forKey: attemptID), job.pid > 0 else { return }
        stop(session: job.pid, leader: job.pid)
    }

    /// SIGTERM (and SIGCONT, so a stopped process sees it) to the session, a grace period,
    /// then SIGKILL to whatever is left.
    func stop(session: pid_t, leader: pid_t?) {
        GridProcess.signalSession(session, SIGTERM)
        GridProcess.signalSession(session, SIGCONT)
        let deadline = GridProcess.monotonic() + grace
        while GridProcess.monotonic() < deadline {
            if let leader { _ = GridProcess.reap(leader) }
            if GridProcess.sessionMembers(session).isEmpty { break }
            usleep(20_000)
        }
        for _ in 0..<50 {
            if GridProcess.signalSession(session, SIGKILL) == 0 { break }
            if let leader { _ = GridProcess.reap(leader) }
            usleep(20_000)
        }
        if let leader {
            var status: Int32 = 0
            _ = waitpid(leader, &status, 0)
        }
    }

    public func poll(until deadline: Double) -> [ExecutorEvent] {
        while true {
            var out = pendingEvents
            pendingEvents.removeAll()
            let t = now()
            injectFailures(t, &out)
            for (id, job) in jobs.sorted(by: { $0.key < $1.key }) where job.pid > 0 {
                if let status = GridProcess.reap(job.pid) {
                    jobs.removeValue(forKey: id)
                    var (code, signal) = GridProcess.decode(status)
                    if status == GridProcess.statusUnknown {
                        // Not ours to know from waitpid; the wrapper's exit file may say.
                        let recorded = LocalGridExecutor.recordedExit(runDir, job.launch.configID, job.launch.attempt)
                        (code, signal) = (recorded?.code, recorded?.signal ?? (recorded == nil ? SIGKILL : nil))
                    }
                    // Whatever the leader left behind (ranks in their own process groups).
                    if GridProcess.signalSession(job.pid, SIGKILL) > 0 { usleep(10_000) }
                    if signal == SIGKILL {
                        // Which node went: the one a failure was injected on, or one that
                        // `kill-node` marked down; else (nodes_per_config 1) its only node.
                        let node = injectedLoss.removeValue(forKey: id)
                            ?? job.launch.nodes.first { !healthCheck(node: $0) } ?? job.launch.nodes[0]
                        out.append(.nodeLost(attemptID: id, node: node,
                            reason: "its processes were killed (SIGKILL)", fenced: true))
                    } else {
                        out.append(.exited(attemptID: id, AttemptExit(
                            code: code, signal: signal, metrics: LocalGridExecutor.readMetrics(job.launch.metricsPath),
                            lastLines: LocalGridExecutor.tail(job.launch.logPath, lines: 20))))
                    }
                    continue
                }
                // Alive and not stopped: a heartbeat, at most twice a second.
                if let st = GridProcess.stat(job.pid), st.state != "T", st.state != "t", t - job.lastBeat >= 0.5 {
                    jobs[id]?.lastBeat = t
                    for n in job.launch.nodes { out.append(.heartbeat(attemptID: id, node: n)) }
                }
            }
            if !out.isEmpty || now() >= deadline { return out }
            usleep(UInt32(max(1_000, min(50_000, (deadline - now()) * 1e6))))
        }
    }

    func injectFailures(_ t: Double, _ out: inout [ExecutorEvent]) {
        guard !failures.isEmpty, let base = failuresBase else { return }
        let due = failures.filter { base + $0.after <= t }
        failures.removeAll { base + $0.after <= t }
        for f in due {
            downUntil[f.node] = t + f.downFor
            for (id, job) in jobs where job.launch.nodes.contains(f.node) && job.pid > 0 {
                injectedLoss[id] = f.node
                GridProcess.signalSession(job.pid, f.signal)
            }
        }
    }

    public func healthCheck(node: Int) -> Bool {
        if downUntil[node] > now() { return false }
        // `baton grid kill-node --down-for` leaves a marker holding the time the node is back.
        let marker = (runDir as NSString).appendingPathComponent("nodes/\(nodeNames[node]).down")
        if let text = try? String(contentsOfFile: marker, encoding: .utf8),
            let until = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), until > now()
        {
            return false
        }
        return true
    }

    public func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit? {
        // Stop everything that still carries this attempt's token.
        let entry = tokenEntry(attemptID)
        for _ in 0..<3 {
            let procs = GridProcess.processes(withEnvironment: entry)
            if procs.isEmpty { break }
            let sessions = Set(procs.compactMap { GridProcess.stat($0)?.session })
            for s in sessions { stop(session: s, leader: nil) }
        }
        guard let recorded = LocalGridExecutor.recordedExit(runDir, configID, attempt) else { return nil }
        let dir = GridRunLayout.configDir(runDir, configID) as NSString
        let metrics = LocalGridExecutor.readMetrics(dir.appendingPathComponent("attempt-\(attempt).metrics.jsonl"))
        let log = dir.appendingPathComponent("attempt-\(attempt).log")
        return AttemptExit(code: recorded.code, signal: recorded.signal, metrics: metrics, lastLines: LocalGridExecutor.tail(log, lines: 20))
    }

    /// What the wrapper wrote to `attempt-N.exit`, if it did.
    static func recordedExit(_ runDir: String, _ configID: String, _ attempt: Int) -> (code: Int32?, signal: Int32?)? {
        guard let text = try? String(contentsOfFile: exitFile(runDir, configID, attempt), encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let value = Int32(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return parts[0] == "code" ? (value, nil) : (nil, value)
    }

    /// The last value of every numeric field over all JSON lines of a metrics file.
    public static func readMetrics(_ path: String?) -> [String: Double] {
        guard let path, let data = FileManager.default.contents(atPath: path) else { return [:] }
        var out: [String: Double] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
            for (k, v) in obj {
                if let n = v as? NSNumber { out[k] = n.doubleValue } else if let d = v as? Double { out[k] = d } else if let i = v as? Int { out[k] = Double(i) }
            }
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
}

/// `baton grid _attempt --exit-file F -- CMD...`: runs CMD in the same session and records how
/// it ended in F (`code N` or `signal S`, written atomically), then exits the same way.
public enum GridAttemptWrapper {
    public static func run(exitFile: String, argv: [String]) -> Int32 {
        let pid: pid_t
        do {
            pid = try GridProcess.spawn(argv, environment: ProcessInfo.processInfo.environment, logPath: nil, newSession: false)
        } catch {
            FileHandle.standardError.write(Data("baton: \(error)\n".utf8))
            record(exitFile, "code 127")
            return 127
        }
        // Stdout/stderr are inherited: posix_spawn without file actions for 1 and 2 keeps ours,
        // but stdin was /dev/null for us too.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let (code, signal) = GridProcess.decode(status)
        if let code {
            record(exitFile, "code \(code)")
            return code
        }
        record(exitFile, "signal \(signal ?? 0)")
        return 128 + (signal ?? 0)
    }

    static func record(_ path: String, _ text: String) {
        let tmp = path + ".tmp"
        if FileManager.default.createFile(atPath: tmp, contents: Data((text + "\n").utf8)) {
            rename(tmp, path)
        }
    }
}
