// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import BatonProtocol
import BatonSystem

/// The text settings turned into the wrapper's options in one place. Here rather than
/// beside `ExecArguments` because `ExecOptions` is the wrapper's, one layer up.
extension ExecArguments {
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
            checkpointDir: checkpointDir, metricsFile: metricsFile, resume: resume,
            runID: runID, maxRestarts: maxRestarts, previousWorldSize: previousWorld)
        var options = ExecOptions(contract: contract, nodes: hosts, command: command)
        options.heartbeat = max(try seconds(heartbeat, "heartbeat"), 0.05)
        options.grace = try seconds(grace, "grace")
        if let lease { options.lease = try seconds(lease, "lease") }
        if let progressPattern {
            guard (try? Regex(progressPattern)) != nil else {
                throw Invalid(description: "--progress-pattern: '\(progressPattern)' is not a regular expression")
            }
            options.progressPattern = progressPattern
        }
        options.progressKey = progressKey
        if let container {
            guard !container.isEmpty, !containerRuntime.isEmpty else { throw Invalid(description: "--container and --container-runtime must not be empty") }
            options.container = ContainerRun(image: container, runtime: containerRuntime, options: containerOptions)
        }
        for kv in env {
            guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else { throw Invalid(description: "--env '\(kv)': expected KEY=VALUE") }
            options.extraEnvironment[String(kv[..<eq])] = String(kv[kv.index(after: eq)...])
        }
        return options
    }
}
