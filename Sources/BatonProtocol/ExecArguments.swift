// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials
import Dispatch

/// The settings of `baton exec` as text, in the argv form `baton launch` writes. Both the
/// `baton exec` subcommand and the lean `baton-exec` executable (what `baton launch` starts
/// for every rank when it sits beside `baton`; it links neither MPI, verbs, GRDB nor Yams, so
/// it starts in a fraction of the time) parse them here and turn them into `ExecOptions` in
/// one place, BatonExec's `options(environment:currentDirectory:)`.
public struct ExecArguments: Sendable, Equatable {
    public var runDir: String?
    public var nodes: String?
    public var attempt = 1
    public var heartbeat = "1s"
    public var lease: String?
    public var grace = "10s"
    public var masterAddr: String?
    public var masterPort = 29500
    public var shardDir: String?
    public var configID = "launch"
    public var config = "{}"
    public var checkpointDir: String?
    public var metricsFile: String?
    public var resume: Bool?
    /// `--progress-pattern REGEX`: an output line that matches is a step (the number in its
    /// first capture group, else one more than the last).
    public var progressPattern: String?
    /// `--progress-key KEY`: a metrics line with this key is a step (its value).
    public var progressKey: String?
    /// TORCHELASTIC_RUN_ID, TORCHELASTIC_MAX_RESTARTS, BATON_PREVIOUS_WORLD_SIZE (`JobContract`).
    public var runID: String?
    public var maxRestarts: Int?
    public var previousWorld: Int?
    /// `--container IMAGE`, `--container-runtime`, `--container-option` (repeatable): the
    /// command runs inside the image (`ContainerRun`).
    public var container: String?
    public var containerRuntime = "podman"
    public var containerOptions: [String] = []
    /// `--env KEY=VALUE` (repeatable): set for the command after the contract.
    public var env: [String] = []
    public var command: [String] = []

    public init() {}

    /// Why the settings cannot be used; the text is what `baton exec` reports.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
        package init(description: String) { self.description = description }
    }

    /// Parses the argv after `exec` in the forms `baton launch` writes (`--name value`,
    /// `--name=value`, the command after `--`). Nil for anything else (help, an unknown or
    /// malformed option): the lean executable then hands over to `baton exec`, whose parser
    /// reports it.
    public static func parse(_ argv: [String]) -> ExecArguments? {
        var a = ExecArguments()
        var i = 0
        while i < argv.count {
            var arg = argv[i]
            i += 1
            if arg == "--" {
                a.command = Array(argv[i...])
                return a
            }
            var value: String?
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                value = String(arg[arg.index(after: eq)...])
                arg = String(arg[..<eq])
            }
            func next() -> String? {
                if let value { return value }
                guard i < argv.count else { return nil }
                i += 1
                return argv[i - 1]
            }
            guard let v = next() else { return nil }
            switch arg {
            case "--run-dir": a.runDir = v
            case "--nodes": a.nodes = v
            case "--attempt": guard let n = Int(v) else { return nil }; a.attempt = n
            case "--heartbeat": a.heartbeat = v
            case "--lease": a.lease = v
            case "--grace": a.grace = v
            case "--master-addr": a.masterAddr = v
            case "--master-port": guard let n = Int(v) else { return nil }; a.masterPort = n
            case "--shard-dir": a.shardDir = v
            case "--config-id": a.configID = v
            case "--config": a.config = v
            case "--checkpoint-dir": a.checkpointDir = v
            case "--metrics-file": a.metricsFile = v
            case "--resume":
                guard v == "0" || v == "1" else { return nil }
                a.resume = v == "1"
            case "--progress-pattern": a.progressPattern = v
            case "--progress-key": a.progressKey = v
            case "--run-id": a.runID = v
            case "--max-restarts": guard let n = Int(v) else { return nil }; a.maxRestarts = n
            case "--previous-world": guard let n = Int(v) else { return nil }; a.previousWorld = n
            case "--container": a.container = v
            case "--container-runtime": a.containerRuntime = v
            case "--container-option": a.containerOptions.append(v)
            case "--env": a.env.append(v)
            default: return nil
            }
        }
        return nil  // no `--`: let `baton exec` explain
    }

    /// The argv `parse` reads back (everything after `exec`), in the `--name value` form.
    public func encode() -> [String] {
        var argv: [String] = []
        func add(_ name: String, _ value: String?) { if let value { argv += ["--\(name)", value] } }
        add("run-dir", runDir)
        add("nodes", nodes)
        add("attempt", String(attempt))
        add("heartbeat", heartbeat)
        add("lease", lease)
        add("grace", grace)
        add("master-port", String(masterPort))
        add("config-id", configID)
        add("master-addr", masterAddr)
        add("shard-dir", shardDir)
        add("config", config == "{}" ? nil : config)
        add("checkpoint-dir", checkpointDir)
        add("metrics-file", metricsFile)
        add("resume", resume.map { $0 ? "1" : "0" })
        add("progress-pattern", progressPattern)
        add("progress-key", progressKey)
        add("run-id", runID)
        add("max-restarts", maxRestarts.map(String.init))
        add("previous-world", previousWorld.map(String.init))
        add("container", container)
        add("container-runtime", container == nil || containerRuntime == "podman" ? nil : containerRuntime)
        for o in containerOptions { argv.append("--container-option=\(o)") }
        for kv in env { add("env", kv) }
        return argv + ["--"] + command
    }
}
