// FoundationEssentials only: baton-exec, which every rank starts, links this module alone.
import BatonProtocol
import BatonSystem
import FoundationEssentials
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Settings of one `baton exec`.
public struct ExecOptions: Sendable {
    var contract: JobContract
    /// The job's nodes in placement order (`--nodes` / `BATON_NODES`); nil: take the
    /// placement from the launcher's variables alone.
    public var nodes: HostList?
    /// Seconds between heartbeat lines.
    var heartbeat: Double = 1
    /// Lease period in seconds. Set only when a Baton head started the job: the wrapper
    /// then reads lease renewals from stdin and fences itself when none came for this
    /// long, or when stdin closes. Nil: stdin is ignored and the wrapper never fences.
    var lease: Double?
    /// Seconds between forwarding SIGTERM to the command and killing its group.
    var grace: Double = 10
    /// Poll interval for new lines of `$BATON_METRICS`.
    var metricsPoll: Double = 0.1
    /// Variables set after the contract's (`--env K=V`): a head that owns some of the
    /// contract itself (the grid: a checkpoint directory stable across attempts, its own
    /// BATON_RESUME and BATON_METRICS) passes them here.
    var extraEnvironment: [String: String] = [:]
    /// An output line matching it is a step (`ProgressMark`): the number in its first
    /// capture group, else one more than the last.
    var progressPattern: String?
    /// A metrics line with this key is a step (its integer value).
    var progressKey: String?
    /// Run the command inside this image (the wrapper stays on the host).
    var container: ContainerRun?
    var command: [String]

    public init(contract: JobContract, nodes: HostList? = nil, command: [String]) {
        self.contract = contract
        self.nodes = nodes
        self.command = command
    }
}

/// The per-rank wrapper: starts the command in its own process group with the contract's
/// environment, tags its output for the head (see `TaggedLine`), keeps a per-rank log,
/// heartbeats, forwards metrics and signals, and fences itself when the head is gone.
public final class ExecWrapper: @unchecked Sendable {
    let options: ExecOptions
    let placement: RankPlacement
    private let out = Locked(())
    private let state = Locked(State())
    private var logFD: Int32 = -1
    private var child: ChildProcess?

    struct State {
        var lastLease = monotonicNow()
        var metricsOffset: UInt64 = 0
        var metricsPending = ""
        var fenced = false
        var terminateAt: Double?
        /// The stop signal that came from outside (daemon, head), if any.
        var stopSignal: Int32?
        /// The process that said `armed PID` on the progress pipe: it writes its stacks on SIGUSR2.
        var armedPID: Int32?
        /// The last step reported (for a pattern without a number).
        var lastStep = 0
        var stacksAsked = false
        var stepSentAt = -Double.infinity
        var stepPending = false
        var stepsSeen = 0
    }

    public init(options: ExecOptions, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.options = options
        self.placement = RankPlacement.fromLauncher(environment, nodes: options.nodes)
    }

    /// The environment the command gets: ours plus the contract.
    func commandEnvironment(base: [String: String]) -> [String: String] {
        var env = DaemonEnvironment.removing(from: base)
        for (k, v) in options.contract.environment(for: placement, firstNode: options.nodes?.hosts.first?.name) { env[k] = v }
        for (k, v) in options.extraEnvironment { env[k] = v }
        if base["OMP_NUM_THREADS"] != nil { env["OMP_NUM_THREADS"] = base["OMP_NUM_THREADS"] }
        return env
    }

    private func emit(_ kind: TaggedLine.Kind, _ payload: String) {
        let line = TaggedLine(kind: kind, node: placement.node, rank: placement.rank, payload: payload).encoded + "\n"
        let ok = out.with { _ in writeAll(fd: 1, line) }
        if !ok { fence("stdout closed: the head or its daemon is gone") }
    }

    private func log(_ text: String) {
        if logFD >= 0 { writeAll(fd: logFD, text + "\n") }
    }

    /// The runtime's command line when the command runs in a container (nil: it runs here).
    /// The container gets the contract and the head's marks (so the sweep and the guard find
    /// its processes), and sees the run, checkpoint and shard directories and this one.
    func containerArguments(_ env: [String: String]) -> [String]? {
        guard let c = options.container else { return nil }
        let marks = [DaemonEnvironment.attemptTokenKey, DaemonEnvironment.headKey, "OMP_NUM_THREADS"].reduce(into: [String: String]()) { $0[$1] = env[$1] }
        return c.rankArguments(contract: options.contract, placement: placement, firstNode: options.nodes?.hosts.first?.name,
                               extra: options.extraEnvironment, marks: marks, workdir: FileManager.default.currentDirectoryPath,
                               user: (getuid(), getgid()), command: options.command)
    }

    var containerName: String { ContainerRun.name(runDir: options.contract.runDir, attempt: options.contract.attempt, rank: placement.rank) }

    /// Removes the rank's container (a killed runtime client leaves it running), bounded.
    private func removeContainer() {
        guard let argv = options.container?.removeArguments(name: containerName),
              let rm = try? ChildProcess.spawn(argv, environment: ProcessInfo.processInfo.environment,
                                               stdin: .null, stdout: .null, stderr: .null) else { return }
        Teardown([.wait(atMost: 10)]).run(against: .child(rm))
    }

    /// Kills the command's group and exits at once (137, like a SIGKILLed command).
    private func fence(_ reason: String) {
        let first = state.with { s -> Bool in
            if s.fenced { return false }
            s.fenced = true
            return true
        }
        guard first else { return }
        // The record first, then the kill: once the command is dead the main thread may
        // reach its end, and it waits for this thread's `_exit` only because `fenced` is
        // set (a kill before the log let the process exit with no line of why; seen in 52).
        log("# baton exec: fenced at \(fixedPoint(Date().timeIntervalSince1970, digits: 3)): \(reason)")
        child?.signal(SIGKILL)
        removeContainer()
        // Best effort: the head may be gone already, so never block on stdout here.
        let line = TaggedLine(kind: .fence, node: placement.node, rank: placement.rank, payload: reason).encoded + "\n"
        let flags = fcntl(1, F_GETFL)
        _ = fcntl(1, F_SETFL, flags | O_NONBLOCK)
        _ = writeAll(fd: 1, line)
        _exit(128 + SIGKILL)
    }

    /// Runs the command to its end and returns the wrapper's exit code: the command's
    /// code, or 128 + signal.
    public func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        for s in [SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP] { sigaddset(&forwarded, s) }
        pthread_sigmask(SIG_BLOCK, &forwarded, nil)

        let c = options.contract
        let fm = FileManager.default
        for dir in [c.logDir, c.checkpointDir, parentDirectory(c.metricsPath(rank: placement.rank))] {
            try? fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        logFD = open(c.logPath(node: placement.node, rank: placement.rank), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        log("# baton exec: attempt \(c.attempt) rank \(placement.rank) on \(placement.node): \(options.command.joined(separator: " "))")

        let env = commandEnvironment(base: ProcessInfo.processInfo.environment)
        let proc: ChildProcess
        do {
            proc = try ChildProcess.spawn(containerArguments(env) ?? options.command, environment: env, stdin: .null,
                                          stdout: .pipe, stderr: .pipe, writePipe: JobContract.progressFD)
        } catch {
            emit(.note, "\(error)")
            emit(.exit, RankExit(status: .exited(127)).payload)
            log("# baton exec: \(error)")
            return 127
        }
        child = proc
        emit(.start, "pid=\(proc.pid)")

        let readersDone = Locked(0)
        let readerFinished = DispatchSemaphore(value: 0)
        let pattern = options.progressPattern
        for (fd, kind) in [(proc.stdoutFD!, TaggedLine.Kind.out), (proc.stderrFD!, .err)] {
            startThread("baton-exec-\(kind)") { [self] in
                let regex = pattern.flatMap { try? Regex($0) }
                readLines(fd: fd) { line in
                    log(String(line))
                    emit(kind, String(line))
                    if let regex, let m = try? regex.firstMatch(in: String(line)) {
                        let given = m.output.count > 1 ? m.output[1].substring.flatMap { Int($0) } : nil
                        step(given)
                    }
                }
                close(fd)
                readersDone.with { $0 += 1 }
                readerFinished.signal()
            }
        }

        startThread("baton-exec-progress") { [self] in
            guard let fd = proc.extraFD else { return }
            readLines(fd: fd) { line in
                guard let mark = ProgressMark.parse(line) else { return }
                switch mark {
                case .armed(let pid):
                    state.with { $0.armedPID = pid }
                    emit(.prog, mark.payload)
                case .step(let n): step(n)
                case .phase:
                    flushStep()  // the step before the phase is said first
                    emit(.prog, mark.payload)
                case .stacks: break
                }
            }
            close(fd)
        }

        // Signals: forwarded to the command's group; SIGTERM/SIGINT start the grace clock.
        let forwardedSet = forwarded
        startThread("baton-exec-signals") { [self] in
            var set = forwardedSet
            while true {
                var sig: Int32 = 0
                if sigwait(&set, &sig) != 0 { continue }
                proc.signal(sig)
                if sig == SIGTERM || sig == SIGINT || sig == SIGHUP {
                    state.with { s in
                        if s.terminateAt == nil { s.terminateAt = monotonicNow() + options.grace }
                        if s.stopSignal == nil { s.stopSignal = sig }
                    }
                    // Said at once: the head learns this node is alive and being stopped,
                    // even if the daemon closes our stdout before the command ends.
                    emit(.note, "received \(signalName(sig)), forwarded to the command")
                }
            }
        }

        if let lease = options.lease {
            state.with { $0.lastLease = monotonicNow() }
            let handle: @Sendable (Substring) -> Void = { [self] line in
                switch HeadMessage.decode(line) {
                case .lease?: state.with { $0.lastLease = monotonicNow() }
                case .signal(_, let sig)?:
                    state.with { s in
                        s.lastLease = monotonicNow()
                        if s.stopSignal == nil && (sig == SIGINT || sig == SIGTERM) {
                            s.stopSignal = sig
                            s.terminateAt = monotonicNow() + options.grace
                        }
                    }
                    proc.signal(sig)
                case .stacks?:
                    let first = state.with { s -> Bool in defer { s.stacksAsked = true }; return !s.stacksAsked }
                    if first { startThread("baton-exec-stacks") { [self] in writeStacks(proc) } }
                case .checkpoint?:
                    state.with { $0.lastLease = monotonicNow() }
                    requestCheckpoint()
                case nil: break
                }
            }
            let channel = HeadChannel.path(runDir: options.contract.runDir, attempt: options.contract.attempt)
            startThread("baton-exec-lease") { [self] in
                readLines(fd: 0) { handle($0) }
                // A rank mpirun started itself gets nothing on stdin (see HeadChannel): its
                // messages come from the head's file, and mpirun's end is seen there.
                if HeadChannel.isFor(thisProcess: channel) { return }
                fence("stdin closed: the head or this node's daemon is gone")
            }
            startThread("baton-exec-head-file") { [self] in
                let gone = HeadChannel.follow(path: channel, within: lease, stop: { state.with { $0.fenced } }) { handle($0) }
                if gone { fence("mpirun, which started this rank, is gone") }
            }
            // A thread of its own that never writes to stdout before killing, so a stalled
            // stdout (daemon cut off) cannot delay fencing.
            startThread("baton-exec-fence") { [self] in
                while true {
                    usleep(50_000)
                    let age = monotonicNow() - state.with { $0.lastLease }
                    if age > lease { fence("no lease renewal for \(formatDuration(age, .seconds(digits: 1))) (lease \(formatDuration(lease, .seconds(digits: 1))))") }
                }
            }
        }

        startThread("baton-exec-ticker") { [self] in
            var nextBeat = monotonicNow()
            var seq = 0
            while true {
                let now = monotonicNow()
                if now >= nextBeat {
                    let busy = ProcessTable.busySeconds(state.with { $0.armedPID } ?? proc.pid)
                    emit(.hb, Heartbeat(sequence: seq, cpu: busy.cpu, delay: busy.delay).payload)
                    seq += 1
                    nextBeat = now + options.heartbeat
                }
                forwardMetrics()
                if monotonicNow() - state.with({ $0.stepSentAt }) >= Self.stepInterval { flushStep() }
                if let t = state.with({ $0.terminateAt }), monotonicNow() > t { proc.signal(SIGKILL) }
                usleep(UInt32(min(options.metricsPoll, options.heartbeat) * 1_000_000))
            }
        }

        let status = proc.wait()
        removeContainer()
        // A fence under way ends the process itself (`_exit(137)`): never report the
        // killed command as this rank's own end, nor exit before the fence is recorded.
        while state.with({ $0.fenced }) { pause() }
        // Drain the pipes; a grandchild that keeps them open gets the group killed.
        var drained = 0
        while drained < 2 && readerFinished.wait(timeout: .now() + 2) == .success { drained += 1 }
        if drained < 2 {
            proc.signal(SIGKILL)
            while drained < 2 && readerFinished.wait(timeout: .now() + 1) == .success { drained += 1 }
        }
        forwardMetrics(final: true)
        emit(.exit, RankExit(status: status, after: state.with { $0.stopSignal }).payload)
        log("# baton exec: command ended with \(status)")
        return status.code
    }

    /// Makes the command's BATON_CHECKPOINT_REQUEST file appear (the head asked for a
    /// checkpoint): written whole and renamed into place, so a reader never sees half of
    /// it. Every wrapper writes it, so it is there on every node, shared run directory or not.
    private func requestCheckpoint() {
        let path = options.contract.checkpointRequestPath
        try? FileManager.default.createDirectory(atPath: parentDirectory(path), withIntermediateDirectories: true)
        let tmp = "\(path).\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = writeAll(fd: fd, "\(fixedPoint(Date().timeIntervalSince1970, digits: 3))\n")
        close(fd)
        if rename(tmp, path) != 0 { unlink(tmp) }
        log("# baton exec: the head asked for a checkpoint (\(path))")
    }

    /// Sends the lines appended to `$BATON_METRICS` since the last call.
    private func forwardMetrics(final: Bool = false) {
        // The path the command was given (a `--env BATON_METRICS=` of the user's wins).
        guard options.contract.forwardsMetrics(rank: placement.rank) else { return }
        let path = options.extraEnvironment["BATON_METRICS"] ?? options.contract.metricsPath(rank: placement.rank)
        let lines: [String] = state.with { s in
            guard let data = readFile(path, from: s.metricsOffset), !data.isEmpty else { return [] }
            s.metricsOffset += UInt64(data.count)
            s.metricsPending += String(decoding: data, as: UTF8.self)
            var parts = s.metricsPending.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            s.metricsPending = parts.removeLast()
            if final && !s.metricsPending.isEmpty { parts.append(s.metricsPending); s.metricsPending = "" }
            return parts.filter { !$0.isEmpty }
        }
        for l in lines {
            emit(.metric, l)
            if let key = options.progressKey, let n = Self.integer(key, inJSON: l) { step(n) }
        }
    }

    /// A step is done: `n`, or one more than the last.
    /// A step is done. The first `stepsSentEach` steps are passed on as they come (the head
    /// learns the step time from them), later ones at most every `stepInterval` (the latest
    /// one; the ticker sends one left waiting): a trainer that marks a thousand steps a second
    /// costs the head ten lines, and the hang budget, learnt from the times between marks,
    /// only grows with it.
    private func step(_ n: Int?) {
        let now = monotonicNow()
        let send = state.with { s -> Int? in
            s.lastStep = n ?? s.lastStep + 1
            s.stepsSeen += 1
            guard s.stepsSeen <= Self.stepsSentEach || now - s.stepSentAt >= Self.stepInterval else { s.stepPending = true; return nil }
            s.stepSentAt = now
            s.stepPending = false
            return s.lastStep
        }
        if let send { emit(.prog, ProgressMark.step(send).payload) }
    }

    /// Sends a step left waiting by `step`.
    private func flushStep() {
        let send = state.with { s -> Int? in
            guard s.stepPending else { return nil }
            s.stepPending = false
            s.stepSentAt = monotonicNow()
            return s.lastStep
        }
        if let send { emit(.prog, ProgressMark.step(send).payload) }
    }

    static let stepInterval = 0.1
    static let stepsSentEach = 16

    /// The integer value of `"key": N` in a JSON object line (no parser: FoundationEssentials).
    static func integer(_ key: String, inJSON line: String) -> Int? {
        guard let r = line.firstRange(of: "\"\(key)\"") else { return nil }
        var rest = line[r.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        let number = String(rest.prefix { c in c.isNumber || c == "-" || c == "." || c == "e" || c == "+" })
        if let n = Int(number) { return n }
        guard let d = Double(number), d.isFinite else { return nil }
        return Int(d)
    }

    /// Writes the command's stacks to BATON_STACKS and says where: by its helper (SIGUSR2
    /// to the process that armed it; Python's faulthandler), else by the first stack tool
    /// found (py-spy, eu-stack, gdb), bounded in time.
    private func writeStacks(_ proc: ChildProcess) {
        let path = RunDirectory(options.contract.runDir).rankStacks(options.contract.attempt, rank: placement.rank)
        try? FileManager.default.createDirectory(atPath: parentDirectory(path), withIntermediateDirectories: true)
        func size() -> Int {
            var st = stat()
            return stat(path, &st) == 0 ? Int(st.st_size) : 0
        }
        var written = false
        if let pid = state.with({ $0.armedPID }), kill(pid, SIGUSR2) == 0 {
            // Written by the rank itself: wait until the file has grown and stopped growing.
            var last = -1, stableSince = monotonicNow()
            let end = monotonicNow() + 3
            while monotonicNow() < end {
                let now = size()
                if now != last { last = now; stableSince = monotonicNow() }
                if now > 0 && monotonicNow() - stableSince > 0.15 { written = true; break }
                usleep(20_000)
            }
        }
        if !written {
            let pid = String(state.with { $0.armedPID } ?? proc.pid)
            let tools: [[String]] = [["py-spy", "dump", "--pid", pid], ["eu-stack", "-p", pid],
                                     ["gdb", "-p", pid, "-batch", "-ex", "thread apply all bt"]]
            for tool in tools where ChildProcess.resolve(tool[0]) != nil {
                guard let c = try? ChildProcess.spawn(tool, environment: ProcessInfo.processInfo.environment,
                                                      stdin: .null, stdout: .append(path), stderr: .append(path)) else { continue }
                Teardown([.wait(atMost: 10)]).run(against: .child(c))
                break
            }
        }
        emit(.prog, ProgressMark.stacks(path: path).payload)
    }
}
