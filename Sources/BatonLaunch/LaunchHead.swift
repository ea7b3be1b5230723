import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The head of one launch run, from a spec to a report: it checks the spec, registers itself
/// in `RUN/head.pid`, records the spec in `RUN/launch.json`, takes SIGINT/SIGTERM/SIGHUP as a
/// stop, waits out an earlier head's attempts when it resumes one, and runs the supervisor.
/// `--detach` starts the same head in a session of its own (`DetachedHead`); `--resume` makes
/// one from the stored spec (`resume(runDir:hosts:)`). The CLI parses and prints around it.
public struct LaunchHead: Sendable {
    var spec: LaunchSpec
    /// Absolute.
    public var runDir: String
    /// Where the launch was given: a resumed head works there (the command's relative paths).
    var directory: String
    /// Set when this head takes over a run whose head was stopped or killed.
    var resume: Resume?
    /// `launch.json` held an older Baton's command line: the head writes the spec over it
    /// (keeping when the run was made, `created`).
    var convertsLegacySettings = false
    var created: Double?

    struct Resume: Sendable {
        var point: LaunchResumePoint
        /// Hosts given to this head rather than the last attempt's nodes.
        var hostsGiven: Bool
    }

    /// A new run's head, for `spec`, in `runDir`, given in `directory` (the current one).
    public init(spec: LaunchSpec, runDir: String, directory: String = FileManager.default.currentDirectoryPath) {
        self.spec = spec
        self.runDir = absolutePath(runDir)
        self.directory = directory
    }

    /// What `--resume` finds: a head to run, or a run that had completed.
    public enum Resumed: Sendable {
        case head(LaunchHead)
        /// Nothing to resume; the sentence says so.
        case completed(String)
    }

    /// The head that takes over the run in `runDir` with its stored spec, on `hosts` when
    /// given (else the last attempt's nodes, or the current Slurm allocation).
    public static func resume(runDir: String, hosts: LaunchSpec.Hosts = .init()) throws(LaunchError) -> Resumed {
        let run = absolutePath(runDir)
        guard let settings = try LaunchRunFiles.readSettings(run) else {
            throw LaunchError(.badInput, "\(run) has no \(LaunchRunFiles.settingsFile): not a launch run directory (or one made before --resume existed)")
        }
        if let pid = DetachedHead.alive(runDir: run, kind: .launch) {
            throw LaunchError(.badInput, "a head (pid \(pid)) is still running \(run); stop it with kill -TERM \(pid) first")
        }
        let point = try LaunchResumePoint.read(runDir: run)
        if point.completed { return .completed("baton launch: \(run) already completed (attempt \(point.lastAttempt)); nothing to resume") }
        var spec = settings.spec
        if hosts.given { spec.hosts = .init(hostfile: hosts.hostfile.map { absolutePath($0) }, hosts: hosts.hosts, local: hosts.local) }
        var head = LaunchHead(spec: spec, runDir: run, directory: settings.directory)
        head.resume = Resume(point: point, hostsGiven: hosts.given)
        head.convertsLegacySettings = settings.legacyArguments != nil
        head.created = settings.created
        return .head(head)
    }

    /// What a detached head is started with (`DetachedHead.detach`): the spec itself, never
    /// a command line to parse again.
    struct Request: Codable {
        var spec: LaunchSpec
        var runDir: String
        var directory: String
        var resume: Bool
        var hostsGiven: Bool
        var convertsLegacySettings: Bool
        var created: Double?
    }

    /// The head a detached process runs, from the request `detach()` gave it.
    public static func detached(request json: String) throws -> LaunchHead {
        let r = try DetachedHead.request(Request.self, from: json)
        var head = LaunchHead(spec: r.spec, runDir: r.runDir, directory: r.directory)
        head.convertsLegacySettings = r.convertsLegacySettings
        head.created = r.created
        if r.resume { head.resume = Resume(point: try LaunchResumePoint.read(runDir: r.runDir), hostsGiven: r.hostsGiven) }
        return head
    }

    /// The checked spec: what the supervisor and the planner are given.
    struct Prepared {
        var options: LaunchOptions
        var planner: LaunchPlanner
        var hosts: HostList
        var remote: Bool
        var lease: Double
        var grace: Double
        var snapshots: SnapshotSchedule.Settings?
    }

    /// Checks the spec as the head would run it; `note` is told where Slurm's hosts came from.
    func prepare(dryRun: Bool, note: (String) -> Void) throws -> Prepared {
        func bad(_ text: String) -> LaunchError { LaunchError(.badInput, text) }
        if resume != nil {
            // Relative paths of the stored spec are relative to where it was given.
            guard FileManager.default.changeCurrentDirectoryPath(directory) else {
                throw bad("cannot enter \(directory), where the run was started (its relative paths are relative to it)")
            }
        }
        guard !spec.command.isEmpty else { throw bad("give the command after --, e.g. baton launch --local 2 -- python train.py") }
        let source: HostSource
        do {
            source = try HostSource.resolve(hostfile: spec.hosts.hostfile, hosts: spec.hosts.hosts, local: spec.hosts.local,
                                            environment: ProcessInfo.processInfo.environment)
        } catch {
            throw bad(error.description)
        }
        var list = source.hosts
        if let resume, !resume.hostsGiven {
            // The last attempt's nodes, unless a new allocation is where this head runs.
            // With spares (`--nnodes`) every host given stays in the pool, as the run store
            // left it: the last attempt's nodes in their places, the others spare, suspect or
            // lost (`HostPool.resume`).
            if case .slurm = source.kind {} else if spec.pool.nnodes == nil { list = resume.point.hosts }
            guard !list.hosts.isEmpty else { throw bad("the last attempt lost every node; give hosts: --resume RUN --hostfile F") }
        }
        if let n = spec.nprocPerNode {
            guard n >= 1 else { throw bad("--nproc-per-node must be at least 1") }
            list = list.withSlots(n)
        }
        if case .slurm = source.kind, !dryRun {
            note("baton launch: hosts from \(source.description): \(list.hosts.map(\.spec).joined(separator: ","))")
        }
        func seconds(_ text: String, _ name: String) throws(LaunchError) -> Double {
            guard let v = parseDuration(text), v > 0 else { throw bad("--\(name): '\(text)' is not a positive duration (e.g. 10s, 500ms)") }
            return v
        }
        let timeout = try seconds(spec.heartbeatTimeout, "heartbeat-timeout")
        let beat = try seconds(spec.heartbeat, "heartbeat")
        let lease = try spec.lease.map { (l) throws(LaunchError) in try seconds(l, "lease") } ?? timeout
        let grace = try seconds(spec.grace, "grace")
        guard spec.minNodes >= 1, spec.maxRestarts >= 0 else { throw bad("--min-nodes must be >= 1 and --max-restarts >= 0") }
        if let p = spec.masterPort, !(1...65535).contains(p) { throw bad("--master-port must be 1...65535, got \(p)") }
        let snapshots: SnapshotSchedule.Settings?
        do { snapshots = try SnapshotSchedule.Settings.parse(every: spec.snapshotEvery, keep: spec.keepSnapshots, to: spec.snapshotTo) } catch {
            throw bad("\(error)")
        }
        var shown: Set<Int>?
        if let ranks = spec.ranks {
            var s = Set<Int>()
            for (i, part) in ranks.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                guard let r = Int(part), r >= 0, r < list.totalSlots else {
                    throw bad("--ranks: entry \(i + 1) '\(part)' is not a rank of this job (0...\(list.totalSlots - 1))")
                }
                s.insert(r)
            }
            shown = s
        }

        let batonPath = spec.baton ?? DetachedHead.executablePath()
        var mode = LaunchMode.cluster
        if source.isLocal {
            if dryRun {
                mode = .local(agentPath: "\(runDir)/local/rsh-agent")
            } else {
                do { mode = .local(agentPath: try LocalNodes.installAgent(dir: "\(runDir)/local")) } catch { throw bad("\(error)") }
            }
        }
        var planner = LaunchPlanner(mode: mode, command: spec.command, runDir: runDir, batonPath: batonPath, mpirunPath: spec.mpirun,
                                    heartbeat: beat, lease: lease, grace: grace, masterPort: spec.masterPort)
        planner.configID = "launch"
        planner.progressPattern = spec.hang.progressPattern
        planner.progressKey = spec.hang.progressKey
        planner.maxRestarts = spec.maxRestarts
        planner.container = spec.container
        if !source.isLocal { planner.slurm = SlurmAllocation.current(environment: ProcessInfo.processInfo.environment) }
        // The lean wrapper beside baton starts in a third of the time of `baton exec` (docs/launch.md).
        planner.execPath = LaunchPlanner.leanWrapper(beside: batonPath)
        var options = LaunchOptions(hosts: list, planner: planner)
        options.maxRestarts = spec.maxRestarts
        options.minNodes = spec.minNodes
        if let range = try spec.pool.range(hosts: list.hosts.count) {
            guard spec.minNodes == LaunchSpec().minNodes || spec.minNodes == range.min else {
                throw bad("--min-nodes \(spec.minNodes) and --nnodes \(range): give the fewest nodes as --nnodes MIN:MAX alone")
            }
            options.nnodes = range
            options.minNodes = range.min
        }
        options.coolDown = try spec.pool.coolDownSeconds()
        options.gate = try spec.pool.gate(planner: planner, checkpointDir: RunDirectory(runDir).checkpoints)
        options.grow = try spec.pool.grow(range: options.nnodes, gating: options.gate != nil)
        options.onRankFailure = spec.onRankFailure
        try options.setHang(spec.hang)
        options.heartbeatTimeout = timeout
        options.startupTimeout = try seconds(spec.startupTimeout, "startup-timeout")
        options.shownRanks = shown
        if let point = resume?.point {
            options.firstAttempt = point.lastAttempt + 1
            options.initialConsumed = point.consumed
            options.priorAttempts = point.records
            options.resumedPool = (point.lastNodes, point.nodeRows)
        }
        if let n = spec.shardSamples {
            guard n >= 0 else { throw bad("--shard-samples must be >= 0") }
            options.shardWriter = ShardHook.writer(samples: n, shuffle: spec.shardShuffle, seed: spec.shardSeed, epoch: spec.shardEpoch)
        }
        return Prepared(options: options, planner: planner, hosts: list, remote: !source.isLocal, lease: lease, grace: grace,
                        snapshots: snapshots)
    }

    /// The first attempt's plan as JSON (`--dry-run`): nothing is started or written.
    public func dryRun(note: (String) -> Void = { _ in }) throws -> String {
        let p = try prepare(dryRun: true, note: note)
        // The pool as the first attempt finds it (before the gate, which a dry run does not run).
        let o = p.options
        let pool = HostPool(hosts: p.hosts, range: o.nnodes ?? NodeRange(min: max(o.minNodes, 1), max: max(p.hosts.hosts.count, 1)),
                            coolDown: o.coolDown, gating: o.gate != nil, now: 0)
        var plan = p.planner.plan(hosts: pool.active, attempt: 1, shardDir: spec.shardSamples != nil ? "\(runDir)/shards/attempt-1" : nil,
                                  port: spec.masterPort ?? 29500)
        if o.nnodes != nil { plan.pool = pool.summary }
        return plan.json()
    }

    /// Checks what must hold before a head runs: mpirun is there, the run directory can be
    /// made, no other head runs it.
    func claimable() throws(LaunchError) {
        guard ChildProcess.resolve(spec.mpirun) != nil else {
            throw LaunchError(.unavailable, "'\(spec.mpirun)' not found on PATH (install openmpi-bin, or pass --mpirun)")
        }
        do { try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true) } catch {
            throw LaunchError(.badInput, "\(error)")
        }
        if let pid = DetachedHead.alive(runDir: runDir, kind: .launch) {
            throw LaunchError(.badInput, "a head (pid \(pid)) is still running \(runDir); stop it with kill -TERM \(pid), or use another --run-dir")
        }
    }

    /// Starts this head in a session of its own and returns its pid and log, once checked.
    public func detach(note: (String) -> Void = { _ in }) throws -> (pid: pid_t, log: String) {
        _ = try prepare(dryRun: false, note: note)
        try claimable()
        let request = Request(spec: spec, runDir: runDir, directory: directory, resume: resume != nil,
                              hostsGiven: resume?.hostsGiven ?? false, convertsLegacySettings: convertsLegacySettings,
                              created: created)
        do { return try DetachedHead.detach(.launch, request: request, runDir: runDir) } catch {
            throw LaunchError(.cannotStart, "\(error)")
        }
    }

    /// Runs the head in this process until the job ends, and returns its report. `note`
    /// takes the head's own messages (Slurm's hosts, snapshots).
    public func run(console: any LaunchConsole, note: @escaping @Sendable (String) -> Void) throws -> LaunchReport {
        // First: no thread may start with the signals unblocked.
        let supervisor = Locked<LaunchSupervisor?>(nil)
        let signals = HeadSignals.install { _ in supervisor.with { $0 }?.interrupt() }
        let p = try prepare(dryRun: false, note: note)
        try claimable()
        do {
            try DetachedHead.register(runDir: runDir)
            try LaunchRunFiles.recordSettings(.init(spec: spec, directory: directory, created: created ?? Date().timeIntervalSince1970),
                                              runDir: runDir, replacing: convertsLegacySettings)
        } catch { throw LaunchError(.badInput, "\(error)") }
        if resume != nil {
            let left = LaunchResumePoint.waitForOldAttempts(runDir: runDir, within: p.lease + p.grace + 5, lease: p.lease, remote: p.remote)
            if !left.isEmpty { throw LaunchError(.cannotStart, "the old attempt is still running: \(left.joined(separator: ", "))") }
        }
        let s = try LaunchSupervisor(options: p.options, executor: MpirunExecutor(), console: console)
        supervisor.with { $0 = s }
        // A signal taken before the supervisor was there stops it at once.
        if signals.signal != nil { s.interrupt() }
        let schedule = p.snapshots.map { SnapshotSchedule(runDir: runDir, settings: $0) { note("baton launch: \($0)") } }
        schedule?.start()
        let report = s.run()
        schedule?.finish()
        return report
    }
}
