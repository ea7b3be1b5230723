// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials

/// A rank's command run inside a container image (`baton launch --container IMAGE`): the
/// runtime's `run` command line, built here for both the wrapper, which starts it, and the
/// dry-run plan, which shows it. `baton exec` stays on the host as the rank's supervisor;
/// the container shares the host's network, IPC and process ids (so the head's sweep, the
/// guard and a stack request reach the rank's processes as they do outside a container), runs
/// as the caller's uid, sees the run, checkpoint, shard and working directories at the same
/// paths, gets the whole rank contract in its environment, and the progress pipe (podman
/// passes descriptor 3 on: `--preserve-fds 1`; docker cannot, so hang detection there needs
/// `--progress-pattern`).
public struct ContainerRun: Codable, Sendable, Equatable {
    /// The image (for podman with `--container-option=--rootfs`, a root filesystem path).
    public var image: String
    /// The runtime's executable (podman or docker, or a script that runs one with global
    /// options of its own, such as another storage root).
    public var runtime: String
    /// Options given to `run` before the image, as they are (`--device baton.dev/rdma=all`,
    /// `--ulimit memlock=-1:-1`, ...).
    public var options: [String]

    public init(image: String, runtime: String = "podman", options: [String] = []) {
        self.image = image
        self.runtime = runtime
        self.options = options
    }

    /// Whether the runtime passes descriptor 3 on (podman's `--preserve-fds`).
    var passesDescriptors: Bool { !runtime.hasSuffix("docker") }

    /// The container of one rank of one attempt of one run: a name no other rank, attempt or
    /// run on this machine uses (its removal after a fence names it).
    public static func name(runDir: String, attempt: Int, rank: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the run directory
        for b in runDir.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "baton-\(String(repeating: "0", count: 16 - hex.count))\(hex)-a\(attempt)-r\(rank)"
    }

    /// `RUNTIME run ...` for one rank: `environment` is what the rank gets (the contract and
    /// the head's marks), `volumes` the host directories it must see at the same paths.
    func runArguments(name: String, environment: [String: String], volumes: [String], workdir: String,
                             user: (uid: UInt32, gid: UInt32), command: [String]) -> [String] {
        var argv = [runtime, "run", "--rm", "--name", name, "--network=host", "--ipc=host", "--pid=host",
                    "--user", "\(user.uid):\(user.gid)", "--workdir", workdir, "--init=false"]
        if passesDescriptors { argv += ["--preserve-fds", "1"] }
        var seen = Set<String>()
        for v in volumes where !v.isEmpty && seen.insert(v).inserted { argv += ["--volume", "\(v):\(v)"] }
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { argv += ["--env", "\(k)=\(v)"] }
        return argv + options + [image] + command
    }

    /// One rank's `run` command line from the job's contract: the rank's environment (the
    /// contract, the head's `extra` settings and `marks`), and the run, checkpoint, shard and
    /// metrics directories and `workdir` mounted at the same paths (a grid's metrics file is
    /// beside its config's checkpoint directory, outside the attempt's run directory).
    public func rankArguments(contract: JobContract, placement: RankPlacement, firstNode: String?, extra: [String: String],
                              marks: [String: String], workdir: String, user: (uid: UInt32, gid: UInt32),
                              command: [String]) -> [String] {
        var inside = contract.environment(for: placement, firstNode: firstNode)
        for (k, v) in extra { inside[k] = v }
        for (k, v) in marks { inside[k] = v }
        func directory(_ path: String) -> String { String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
        let shardDir = contract.shardFile(rank: placement.rank).map(directory)
        let metricsDir = directory(inside["BATON_METRICS"] ?? contract.metricsPath(rank: placement.rank))
        let volumes = [contract.runDir, contract.checkpointDir, shardDir ?? "",
                       metricsDir.hasPrefix(contract.runDir + "/") ? "" : metricsDir, workdir]
        return runArguments(name: Self.name(runDir: contract.runDir, attempt: contract.attempt, rank: placement.rank),
                            environment: inside, volumes: volumes, workdir: workdir, user: user, command: command)
    }

    /// `RUNTIME rm -f NAME`: a container whose supervisor was killed is removed with it.
    public func removeArguments(name: String) -> [String] { [runtime, "rm", "--force", "--time", "0", name] }
}
