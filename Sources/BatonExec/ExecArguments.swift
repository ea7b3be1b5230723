// FoundationEssentials only: baton-exec, which every rank starts, links this module alone.
import FoundationEssentials
import Dispatch

/// The settings of `baton exec` as text, turned into `ExecOptions` in one place: both the
/// `baton exec` subcommand and the lean `baton-exec` executable (what `baton launch` starts
/// for every rank when it sits beside `baton`; it links neither MPI, verbs, GRDB nor Yams, so
/// it starts in a fraction of the time) build their options here.
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
    /// `--env KEY=VALUE` (repeatable): set for the command after the contract.
    public var env: [String] = []
    public var command: [String] = []

    public init() {}

    /// Why the settings cannot be used; the text is what `baton exec` reports.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The wrapper's options, with `environment` supplying BATON_RUN_DIR / BATON_NODES.
    public func options(environment: [String: String], currentDirectory: String) throws(Invalid) -> ExecOptions {
        guard !command.isEmpty else { throw Invalid(description: "give the command after --, e.g. baton exec -- python train.py") }
        func seconds(_ text: String, _ name: String) throws(Invalid) -> Double {
            guard let v = parseDuration(text) else { throw Invalid(description: "--\(name): '\(text)' is not a duration (e.g. 10s, 500ms)") }
            return v
        }
        var hosts: HostList?
        if let spec = nodes ?? environment["BATON_NODES"] {
            do { hosts = try HostList.parseHostSpec(spec, source: "--nodes") } catch { throw Invalid(description: error.description) }
        }
        let contract = JobContract(
            runDir: runDir ?? environment["BATON_RUN_DIR"] ?? currentDirectory + "/baton-run",
            configID: configID, configJSON: config, attempt: attempt, restartCount: max(attempt - 1, 0),
            masterAddr: masterAddr, masterPort: masterPort, shardDir: shardDir,
            checkpointDir: checkpointDir, metricsFile: metricsFile, resume: resume)
        var options = ExecOptions(contract: contract, nodes: hosts, command: command)
        options.heartbeat = max(try seconds(heartbeat, "heartbeat"), 0.05)
        options.grace = try seconds(grace, "grace")
        if let lease { options.lease = try seconds(lease, "lease") }
        for kv in env {
            guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw Invalid(description: "--env '\(kv)': expected KEY=VALUE") }
            options.extraEnvironment[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
        return options
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
            case "--env": a.env.append(v)
            default: return nil
            }
        }
        return nil  // no `--`: let `baton exec` explain
    }
}
