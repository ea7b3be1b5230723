// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials

/// A rank's command run inside a container image (`baton launch --container IMAGE`, a grid
/// spec's `container:`): the runtime's command line, built here for both the wrapper, which
/// starts it, and the dry-run plan, which shows it. `baton exec` stays on the host as the
/// rank's supervisor; the container shares the host's network, IPC and process ids (so the
/// head's sweep, the guard and a stack request reach the rank's processes as they do outside
/// a container), runs as the caller's uid, sees the run, checkpoint, shard, metrics and
/// working directories at the same paths, and gets the whole rank contract in its
/// environment. podman passes the progress pipe (descriptor 3) on (`--preserve-fds 1`);
/// docker cannot, so hang detection there needs `--progress-pattern`.
///
/// Four dialects, chosen by the runtime executable's name (`Dialect`): podman and docker
/// (`run`, a named container removed after every end and fence), apptainer (`exec`) and
/// enroot (`start`). The last two are built from their documentation only: neither is
/// packaged by Debian 12, so no real apptainer or enroot ran these command lines here.
public struct ContainerRun: Codable, Sendable, Equatable {
    /// The image (for podman with `--container-option=--rootfs`, a root filesystem path;
    /// apptainer: a SIF file, a sandbox directory or a URI; enroot: a container name or a
    /// squashfs image file).
    public var image: String
    /// The runtime's executable (podman, docker, apptainer, enroot, or a script that runs
    /// one, e.g. with global options of its own such as another storage root).
    public var runtime: String
    /// Options given to the runtime's `run` (`exec`, `start`) before the image, as they are
    /// (`--device baton.dev/rdma=all`, `--ulimit memlock=-1:-1`, ...).
    public var options: [String]

    public init(image: String, runtime: String = "podman", options: [String] = []) {
        self.image = image
        self.runtime = runtime
        self.options = options
    }

    /// How a runtime is told what to run: by the end of its executable's name (`/opt/x/podman`
    /// and a wrapper script named `podman` are podman), podman for any other name.
    public enum Dialect: String, Sendable, CaseIterable {
        case podman, docker, apptainer, enroot

        public init(runtime: String) {
            let name = runtime.split(separator: "/").last.map(String.init) ?? runtime
            if name.hasSuffix("docker") { self = .docker }
            else if name.hasSuffix("apptainer") || name.hasSuffix("singularity") { self = .apptainer }
            else if name.hasSuffix("enroot") { self = .enroot }
            else { self = .podman }
        }
    }

    public var dialect: Dialect { Dialect(runtime: runtime) }

    /// Whether the runtime passes descriptor 3 on by an option of its own (podman's
    /// `--preserve-fds`).
    var passesDescriptors: Bool { dialect == .podman }

    /// The container of one rank of one attempt of one run: a name no other rank, attempt or
    /// run on this machine uses (its removal after a fence names it).
    public static func name(runDir: String, attempt: Int, rank: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the run directory
        for b in runDir.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let hex = String(h, radix: 16)
        return "baton-\(String(repeating: "0", count: 16 - hex.count))\(hex)-a\(attempt)-r\(rank)"
    }

    /// The runtime's command line for one rank: `environment` is what the rank gets (the
    /// contract and the head's marks), `volumes` the host directories it must see at the same
    /// paths (each once).
    func runArguments(name: String, environment: [String: String], volumes: [String], workdir: String,
                             user: (uid: UInt32, gid: UInt32), command: [String]) -> [String] {
        // A directory the caller's own options already mount there is left to them: the
        // runtime refuses two mounts at one destination (podman: exit 125).
        var seen = userMountTargets
        let volumes = volumes.filter { !$0.isEmpty && seen.insert($0).inserted }
        let env = environment.sorted { $0.key < $1.key }
        switch dialect {
        case .podman, .docker:
            var argv = [runtime, "run", "--rm", "--name", name, "--network=host", "--ipc=host", "--pid=host",
                        "--user", "\(user.uid):\(user.gid)", "--workdir", workdir, "--init=false"]
            if passesDescriptors { argv += ["--preserve-fds", "1"] }
            for v in volumes { argv += ["--volume", "\(v):\(v)"] }
            for (k, v) in env { argv += ["--env", "\(k)=\(v)"] }
            return argv + options + [image] + command
        case .apptainer:
            // `exec` runs as the caller with the host's network, IPC and process ids unless
            // told otherwise. --cleanenv: the host's environment stays out, as with podman.
            // The contract goes in as APPTAINERENV_K=V in the runtime's own environment (set
            // by env(1)): `--env` splits its value at commas (a list), which BATON_CONFIG and
            // BATON_NODES hold. Apptainer never lets HOME or PATH be set so.
            let prefix = runtime.hasSuffix("singularity") ? "SINGULARITYENV_" : "APPTAINERENV_"
            var argv = ["env"] + env.map { "\(prefix)\($0.key)=\($0.value)" }
            argv += [runtime, "exec", "--cleanenv", "--pwd", workdir]
            for v in volumes { argv += ["--bind", "\(v):\(v)"] }
            return argv + options + [image] + command
        case .enroot:
            // `start` runs as the caller in a user and a mount namespace only (the host's
            // network, IPC and process ids), with only the environment it is given. Its
            // --mount is an fstab line with colons for blanks; x-create makes the mount point.
            // It has no working-directory option: the image's /etc/rc picks it.
            var argv = [runtime, "start"]
            for (k, v) in env { argv += ["--env", "\(k)=\(v)"] }
            for v in volumes { argv += ["--mount", "\(v):\(v):none:x-create=dir,rbind"] }
            return argv + options + [image] + command
        }
    }

    /// The destinations the caller's `options` mount (`--volume`/`-v`/`--bind`/`-B SRC:DST`,
    /// `--mount type=bind,...,destination=DST` for podman and docker, enroot's
    /// `--mount SRC:DST:...`); a bare `-v DIR` mounts DIR at DIR.
    var userMountTargets: Set<String> {
        var out = Set<String>()
        func target(of spec: String, fstab: Bool = false) {
            if !fstab, spec.contains("=") {  // --mount type=bind,src=A,dst=B
                for field in spec.split(separator: ",") {
                    let kv = field.split(separator: "=", maxSplits: 1).map(String.init)
                    if kv.count == 2, ["destination", "dst", "target"].contains(kv[0]) { out.insert(kv[1]) }
                }
                return
            }
            let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if let d = parts.count > 1 ? parts[1] : parts.first, !d.isEmpty { out.insert(d) }
        }
        let flags: Set<String> = ["--volume", "-v", "--bind", "-B", "--mount"]
        var i = options.startIndex
        while i < options.endIndex {
            let o = options[i]
            if flags.contains(o), i + 1 < options.endIndex {
                target(of: options[i + 1], fstab: dialect == .enroot || o != "--mount")
                i += 2
                continue
            }
            if let eq = o.firstIndex(of: "="), flags.contains(String(o[..<eq])), o.hasPrefix("--") {
                let flag = String(o[..<eq])
                target(of: String(o[o.index(after: eq)...]), fstab: dialect == .enroot || flag != "--mount")
            }
            i += 1
        }
        return out
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

    /// `RUNTIME rm -f NAME`: a container whose supervisor was killed is removed with it. Nil
    /// for apptainer and enroot: they keep no container apart from its processes, which the
    /// wrapper's kill of its command's group ends.
    public func removeArguments(name: String) -> [String]? {
        dialect == .podman || dialect == .docker ? [runtime, "rm", "--force", "--time", "0", name] : nil
    }
}
