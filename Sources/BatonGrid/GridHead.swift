import BatonLaunch
import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The head of a grid run: a request checked into a run (`prepare`), run here (`run`) or
/// detached (`detach`), stopped (`stop`); which executor its run uses, whether a head is
/// alive for a run directory, and fault injection on nodes this machine can signal.
public enum GridHead {
    /// A file in the run directory that asks a running head to stop (`baton grid stop`).
    static let stopFile = RunDirectory.Relative.stopRequest

    /// The executor of a run: every attempt an mpirun job; `--local` runs reach their
    /// simulated nodes through the agent in `RUN/local`.
    static func executor(settings: GridRun.Settings, runDir: String, failures: [MpirunGridExecutor.Failure] = [],
                         container: ContainerRun? = nil) throws -> MpirunGridExecutor {
        var s = MpirunGridExecutor.Settings(batonPath: DetachedHead.executablePath())
        s.heartbeatTimeout = settings.heartbeatTimeout
        s.lease = settings.heartbeatTimeout
        s.healthTimeout = settings.healthTimeout
        s.hang = settings.hang
        s.failures = failures
        s.container = container
        if settings.executor == "local" {
            s.mode = .local(agentPath: try LocalNodes.installAgent(dir: RunDirectory(runDir).local))
        } else {
            s.slurm = SlurmAllocation.current(environment: ProcessInfo.processInfo.environment)
        }
        let hosts = HostList(hosts: settings.nodeNames.map { BatonProtocol.Host(name: $0, slots: 1) })
        return MpirunGridExecutor(hosts: hosts, runDir: runDir, settings: s)
    }

    /// The head's pid when a head process is alive for the run in `runDir`: `RUN/head.pid`,
    /// else the pid its store keeps (a run whose head was older than the file).
    public static func alivePID(runDir: String, meta: [String: String]) -> Int32? {
        DetachedHead.alive(runDir: runDir, kind: .grid, stored: meta["head_pid"].flatMap(Int32.init))
    }

    /// Fault injection: marks `node` down for `downFor` seconds (its health checks fail) and
    /// sends `signal` to its processes where this machine can reach them (a simulated node's
    /// session). Returns what was done, for a person.
    public static func killNode(runDir: String, node: String, signal: Int32, downFor: Double, local: Bool) throws -> String {
        let marker = GridFiles.downMarker(runDir: runDir, node: node)
        try FileManager.default.createDirectory(atPath: parentDirectory(marker), withIntermediateDirectories: true)
        try String(Date().timeIntervalSince1970 + downFor).write(toFile: marker, atomically: true, encoding: .utf8)
        let down = "marked down for \(formatDuration(downFor))"
        guard local else {
            // A host this machine can see into (the namespace test bed): every process of
            // this run's attempts there, known by the node its agent named.
            let prefix = "\(runDir)#"
            let find = {
                ProcessTable.processes { env in
                    env["BATON_AGENT_NODE"] == node && (env["BATON_GRID_ATTEMPT"]?.hasPrefix(prefix) ?? false)
                }
            }
            let n = ProcessTable.signal(find, signal)
            guard n > 0 else {
                return "\(node): no process of this run is visible from here; \(down); take the host down yourself"
            }
            return "sent \(signalName(signal)) to \(n) process(es) of this run on \(node); \(down)"
        }
        let dir = RunDirectory(runDir).local
        guard let sid = LocalNodes.session(of: node, dir: dir) else { return "node \(node) runs nothing right now; \(down)" }
        let n = ProcessTable.signal(session: sid, signal)
        return "sent \(signalName(signal)) to \(n) process(es) of \(node) (session \(sid)); \(down)"
    }

    /// What asks for a milestone snapshot when a config is done: each one (`done`), or one
    /// whose objective beats every config done before it, this head's or earlier ones' (`best`).
    static func milestoneSnapshots(_ schedule: SnapshotSchedule, on: Set<SnapshotSchedule.Milestone>, objective: GridObjective?,
                                   store: GridStore) -> (String, Double?) -> Void {
        func better(_ a: Double, _ b: Double?) -> Bool {
            guard let b else { return true }
            return objective?.mode == .min ? a < b : a > b
        }
        var best: Double?
        if on.contains(.best), let snap = try? store.snapshot(events: 0) {
            for c in snap.configs where c.status == .done { if let v = c.objective, better(v, best) { best = v } }
        }
        return { id, value in
            if on.contains(.best), let objective, let v = value, better(v, best) {
                best = v
                schedule.request(label: "new best \(objective.metric)=\(GridFormat.metric(v)) (\(id))")
            } else if on.contains(.done) {
                schedule.request(label: "\(id) done")
            }
        }
    }

    /// The head's life over one run: takes the run (its pid in the store), finds what a
    /// killed head left (orphans, reported through `say`), runs the scheduler until the
    /// grid is done, a stop is asked for (`interrupted()`, or `baton grid stop`'s file), or
    /// no node is left, and gives the run up again. Every transition is committed before
    /// it is acted on.
    public static func run(
        store: GridStore, settings: GridRun.Settings, spec: GridSpec, runDir: String, newConfigs: [GridConfig]?,
        failures: [MpirunGridExecutor.Failure], quiet: Bool, snapshots: SnapshotSchedule.Settings? = nil,
        interrupted: @escaping () -> Bool, say: @escaping @Sendable (String) -> Void
    ) throws -> GridOutcome {
        let fm = FileManager.default
        let executor = try executor(settings: settings, runDir: runDir, failures: failures, container: spec.container)
        let snapshotMeta = (snapshots ?? SnapshotSchedule.Settings(every: nil)).meta.map { GridStoreOp.meta($0.0, $0.1) }
        try store.commit(settings.metaOps + snapshotMeta
                         + [.meta("head_pid", String(getpid())), .meta("head_started", String(Date().timeIntervalSince1970))])
        let resumption = try GridRun.prepareResume(store: store, executor: executor, newConfigs: newConfigs)
        for (a, finished) in resumption.orphans {
            say(finished
                ? "found attempt \(a.number) of \(a.configID) finished while no head was running; kept its result"
                : "found attempt \(a.number) of \(a.configID) orphaned on \(a.nodes.joined(separator: ",")); stopped it; it resumes first")
        }
        let scheduler = GridScheduler(
            executor: executor, store: store, options: GridRun.options(spec: spec, settings: settings, runDir: runDir),
            configs: resumption.configs, resumeFirst: resumption.resumeFirst, nodeStates: resumption.nodeStates,
            nextAttemptID: resumption.nextAttemptID, progress: resumption.progress)
        let stop = RunDirectory(runDir).stopRequest
        try? fm.removeItem(atPath: stop)
        scheduler.shouldStop = { interrupted() || fm.fileExists(atPath: stop) }
        let t0 = executor.now()
        if !quiet {
            scheduler.onEvent = { e in say("[+\(formatDuration(max(0, e.time - t0)))] \(e.text)") }
        }
        scheduler.onSummary = { s in say("grid: \(s.line) | \(formatDuration(s.elapsed)) elapsed") }
        // Periodic snapshots (docs/snapshots.md) on a thread of their own, and one at the end,
        // after the last transition is committed.
        let schedule = snapshots.map { SnapshotSchedule(runDir: runDir, settings: $0, say: say) }
        if let schedule, let s = snapshots, !s.on.isEmpty {
            scheduler.onConfigDone = milestoneSnapshots(schedule, on: s.on, objective: spec.objective, store: store)
        }
        schedule?.start()
        let outcome: GridOutcome
        do {
            defer {
                executor.cleanLocalNodes()
                schedule?.finish()
            }
            outcome = try scheduler.run()
        }
        try? fm.removeItem(atPath: stop)
        try store.commit([.meta("head_pid", "0")])
        return outcome
    }
}
