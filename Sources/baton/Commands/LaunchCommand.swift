import ArgumentParser
import BatonCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Run one job across nodes through mpirun, with heartbeats and elastic restart on node loss.",
        discussion: """
            Hosts: --hostfile F (Open MPI/DeepSpeed format), -H h1:2,h2:2, --local N (simulated nodes on
            this machine), or SLURM_JOB_NODELIST inside a Slurm allocation. Every rank runs under
            `baton exec`; a node silent for --heartbeat-timeout, or lost as mpirun reports, stops the job,
            which restarts on the survivors (at least --min-nodes, at most --max-restarts times).
            Run state: RUN/events.jsonl, RUN/report.json, RUN/logs/<node>.<rank>.log, RUN/attempts/.
            Exit: 0 completed, 2 bad input (nothing started), 4 job failed, 130 interrupted.
            """)

    @Option(help: "Open MPI / DeepSpeed hostfile (host slots=N).") var hostfile: String?
    @Option(name: .customShort("H"), help: "Hosts as h1:2,h2:2.") var hosts: String?
    @Option(help: "Simulate N nodes on this machine (real processes, one mpirun daemon per node).") var local: Int?
    @Option(help: "Ranks per node (overrides the slots of the host list).") var nprocPerNode: Int?
    @Option(help: "Run directory.") var runDir: String = "baton-run"
    @Option(help: "Restarts allowed after node loss.") var maxRestarts: Int = 3
    @Option(help: "Fewest nodes to restart on.") var minNodes: Int = 1
    @Option(help: "A node silent this long is lost.") var heartbeatTimeout: String = "10s"
    @Option(help: "Heartbeat interval of every rank.") var heartbeat: String = "1s"
    @Option(help: "How long a node may take to send its first line.") var startupTimeout: String = "30s"
    @Option(help: "Lease period: a rank that hears no renewal this long kills its command (default: the heartbeat timeout).")
    var lease: String?
    @Option(help: "Time between SIGTERM and SIGKILL.") var grace: String = "30s"
    @Option(help: "Only show the output of these ranks (all still go to the log files), e.g. 0,3.") var ranks: String?
    @Option(help: "Shard N samples across the ranks (BATON_SHARD_FILE); re-sharded on restart.") var shardSamples: Int?
    @Flag(help: "Shuffle the samples (a pure function of seed and epoch).") var shardShuffle = false
    @Option(help: "Shuffle seed.") var shardSeed: UInt64 = 0
    @Option(help: "Epoch.") var shardEpoch: Int = 0
    @Option(help: "MASTER_PORT.") var masterPort: Int = 29500
    @Option(help: "mpirun to use.") var mpirun: String = "mpirun"
    @Option(help: "Path of baton on the nodes (default: this binary).") var baton: String?
    @Flag(help: "Print the plan as JSON and start nothing.") var dryRun = false
    @Argument(parsing: .postTerminator, help: "The command every rank runs, after --.") var command: [String] = []

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("baton launch: \(message)\n".utf8))
        return ExitCode(ExitCodes.badInput)
    }

    func run() throws {
        guard !command.isEmpty else { throw fail("give the command after --, e.g. baton launch --local 2 -- python train.py") }
        let given = [hostfile != nil, hosts != nil, local != nil].filter { $0 }.count
        guard given <= 1 else { throw fail("give only one of --hostfile, -H, --local") }
        var list: HostList
        do {
            if let hostfile {
                list = try HostList.hostfile(at: hostfile)
            } else if let hosts {
                list = try HostList.parseHostSpec(hosts)
            } else if let local {
                guard local >= 1 && local <= 999 else { throw fail("--local needs 1...999 nodes, got \(local)") }
                list = HostList.local(count: local)
            } else if let nodelist = ProcessInfo.processInfo.environment["SLURM_JOB_NODELIST"] {
                let perNode = ProcessInfo.processInfo.environment["SLURM_NTASKS_PER_NODE"].flatMap { Int($0.prefix { $0.isNumber }) } ?? 1
                list = try HostList.parseSlurmNodelist(nodelist, slots: perNode)
            } else {
                throw fail("no hosts: give --hostfile, -H, --local N, or run inside a Slurm allocation")
            }
        } catch let e as HostListError {
            throw fail(e.description)
        }
        if let n = nprocPerNode {
            guard n >= 1 else { throw fail("--nproc-per-node must be at least 1") }
            list = list.withSlots(n)
        }
        func seconds(_ text: String, _ name: String) throws -> Double {
            guard let v = parseDuration(text), v > 0 else { throw fail("--\(name): '\(text)' is not a positive duration (e.g. 10s, 500ms)") }
            return v
        }
        let timeout = try seconds(heartbeatTimeout, "heartbeat-timeout")
        let beat = try seconds(heartbeat, "heartbeat")
        let leaseSeconds = try lease.map { try seconds($0, "lease") } ?? timeout
        let graceSeconds = try seconds(grace, "grace")
        guard minNodes >= 1, maxRestarts >= 0 else { throw fail("--min-nodes must be >= 1 and --max-restarts >= 0") }
        var shown: Set<Int>?
        if let ranks {
            var s = Set<Int>()
            for (i, part) in ranks.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
                guard let r = Int(part), r >= 0, r < list.totalSlots else {
                    throw fail("--ranks: entry \(i + 1) '\(part)' is not a rank of this job (0...\(list.totalSlots - 1))")
                }
                s.insert(r)
            }
            shown = s
        }

        let run = URL(fileURLWithPath: runDir).standardizedFileURL.path
        let batonPath = baton ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var mode = LaunchMode.cluster
        if local != nil {
            if dryRun {
                mode = .local(agentPath: "\(run)/local/rsh-agent")
            } else {
                do { mode = .local(agentPath: try LocalNodes.installAgent(runDir: run)) } catch { throw fail("\(error)") }
            }
        }
        var planner = LaunchPlanner(mode: mode, command: command, runDir: run, batonPath: batonPath, mpirunPath: mpirun,
                                    heartbeat: beat, lease: leaseSeconds, grace: graceSeconds, masterPort: masterPort)
        planner.configID = "launch"
        var options = LaunchOptions(hosts: list, planner: planner)
        options.maxRestarts = maxRestarts
        options.minNodes = minNodes
        options.heartbeatTimeout = timeout
        options.startupTimeout = try seconds(startupTimeout, "startup-timeout")
        options.shownRanks = shown
        if let n = shardSamples {
            guard n >= 0 else { throw fail("--shard-samples must be >= 0") }
            options.shardWriter = ShardHook.writer(samples: n, shuffle: shardShuffle, seed: shardSeed, epoch: shardEpoch)
        }

        if dryRun {
            let plan = planner.plan(hosts: list, attempt: 1, shardDir: shardSamples != nil ? "\(run)/shards/attempt-1" : nil)
            print(plan.json())
            return
        }

        guard ChildProcess.resolve(mpirun) != nil else {
            FileHandle.standardError.write(Data("baton launch: '\(mpirun)' not found on PATH (install openmpi-bin, or pass --mpirun)\n".utf8))
            throw ExitCode(ExitCodes.unavailable)
        }

        // Ctrl-C and SIGTERM come to one thread here, which asks the supervisor to stop.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        let supervisor: LaunchSupervisor
        do {
            supervisor = try LaunchSupervisor(options: options, executor: local != nil ? LocalExecutor() : MpirunExecutor(),
                                              console: TerminalConsole())
        } catch {
            throw fail("cannot create the run directory \(run): \(error.localizedDescription)")
        }
        let signals = set
        startThread("baton-launch-signals") {
            var s = signals
            while true {
                var sig: Int32 = 0
                if sigwait(&s, &sig) == 0 { supervisor.interrupt() }
            }
        }
        let report = supervisor.run()
        TerminalConsole().clearStatus()
        FileHandle.standardError.write(Data((report.summary + "\n").utf8))
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}

/// Prints rank lines as `node:rank text`, messages on stderr, and a status line redrawn in
/// place when stderr is a terminal.
struct TerminalConsole: LaunchConsole {
    static let statusShown = Locked(false)
    let tty = isatty(2) == 1

    func clearStatus() {
        TerminalConsole.statusShown.with { shown in
            if shown { writeAll(fd: 2, "\r\u{1B}[K"); shown = false }
        }
    }

    func rankLine(node: String, rank: Int, text: String, isError: Bool) {
        clearStatus()
        writeAll(fd: isError ? 2 : 1, "\(node):\(rank) \(text)\n")
    }

    func message(_ text: String) {
        clearStatus()
        writeAll(fd: 2, text + "\n")
    }

    func status(_ text: String) {
        guard tty else { return }
        TerminalConsole.statusShown.with { shown in
            writeAll(fd: 2, "\r\u{1B}[K" + text)
            shown = true
        }
    }
}
