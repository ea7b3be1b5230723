import Foundation
import BatonSupport

// Each runtime's files, from the same passthrough `container-flags` prints as flags.
extension ContainerConfig {
    /// What every docker-like runtime needs on the command line, whatever its configuration:
    /// no configuration file of podman, docker or CDI can add a capability without replacing
    /// the default set, and host network and IPC are left to each container (a drop-in would
    /// give every container on the node the host's network).
    static let hostFlags = ["--cap-add=IPC_LOCK", "--network=host", "--ipc=host"]

    /// A CDI spec (github.com/cncf-tags/container-device-interface, SPEC.md), in YAML: a
    /// device `all` with every uverbs node and the NCCL environment, one device per HCA with
    /// its node, and the edits any device of the spec brings (rdma_cm, the read-only mounts).
    /// cdiVersion 0.5.0 is the newest the CDI library of Debian 12's podman 4.3 reads; it has
    /// no annotations, so the mark is a YAML comment. Every string is double-quoted.
    mutating func cdi() {
        guard !passthrough.hcas.isEmpty else {
            notes.append("no RDMA device with a uverbs node: no CDI spec (a spec needs at least one device)")
            return
        }
        let q = ContainerFlags.yamlString
        func nodes(_ paths: [String], _ indent: String) -> String {
            "\(indent)deviceNodes:\n" + paths.map { "\(indent)  - path: \(q($0))\n" }.joined()
        }
        var y = "cdiVersion: \(q("0.5.0"))\nkind: \(q(Self.cdiKind))\ndevices:\n"
        y += "  - name: \(q("all"))\n    containerEdits:\n" + nodes(passthrough.hcas.map(\.node), "      ")
        if !passthrough.nccl.variables.isEmpty {
            y += "      env:\n" + passthrough.nccl.variables.map { "        - \(q("\($0.name)=\($0.value)"))\n" }.joined()
        }
        for hca in passthrough.hcas {
            y += "  - name: \(q(hca.name))\n    containerEdits:\n" + nodes([hca.node], "      ")
        }
        if passthrough.rdmaCM != nil || !passthrough.mounts.isEmpty {
            y += "containerEdits:\n"
            if let cm = passthrough.rdmaCM { y += nodes([cm], "  ") }
            if !passthrough.mounts.isEmpty {
                y += "  mounts:\n"
                for path in passthrough.mounts {
                    y += "    - hostPath: \(q(path))\n      containerPath: \(q(path))\n"
                    y += "      options: [\(["ro", "nosuid", "nodev", "bind"].map(q).joined(separator: ", "))]\n"
                }
            }
        }
        files.append(ConfigFile(name: "baton-rdma.yaml", contents: ConfigFile.header(.cdi) + y, isMarked: true))
        flags = ["--device=\(Self.cdiKind)=all", "--ulimit=memlock=-1:-1"] + Self.hostFlags
        notes.append("CDI cannot set rlimits or capabilities: memlock (--ulimit) and IPC_LOCK (--cap-add) stay flags (docker: --ulimit=memlock=-1)")
        notes.append("the NCCL environment is in device `all` only: with per-HCA devices (\(Self.cdiKind)=\(passthrough.hcas[0].name)) set NCCL_IB_HCA yourself")
    }

    /// A containers.conf drop-in (containers.conf(5), [containers] table).
    mutating func podman() {
        var body = "[containers]\n"
        body += Self.tomlArray("devices", passthrough.devices.map { "\($0):\($0):rwm" })
        body += Self.tomlArray("volumes", passthrough.mounts.map { "\($0):\($0):ro" })
        if !passthrough.nccl.variables.isEmpty {
            // A drop-in's list replaces the default one, so its two entries come first.
            body += "# env replaces podman's default list: its PATH and TERM are kept first.\n"
            body += Self.tomlArray("env", Self.podmanDefaultEnv + passthrough.nccl.variables.map { "\($0.name)=\($0.value)" })
        }
        body += Self.tomlArray("default_ulimits", ["memlock=-1:-1"])
        files.append(ConfigFile(name: "50-baton-rdma.conf", contents: ConfigFile.header(.podman) + body, isMarked: true))
        flags = Self.hostFlags
        notes.append("a --ulimit on podman's command line replaces default_ulimits (podman 4.3): give memlock=-1:-1 there too")
        notes.append("IPC_LOCK stays a flag: containers.conf's default_capabilities replaces the whole default set")
        notes.append("podman refuses --shm-size with --ipc=host: the container uses the host's /dev/shm")
    }

    /// containers.conf's own default (containers/common, pkg/config/default.go).
    static let podmanDefaultEnv = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"]

    /// daemon.json (dockerd(8)) holds default ulimits and turns CDI on; devices, mounts,
    /// environment, capabilities and namespaces are per-container only.
    mutating func docker() {
        let memlock = OrderedJSON.object([("Name", .string("memlock")), ("Hard", .int(-1)), ("Soft", .int(-1))])
        let daemon = OrderedJSON.object([
            ("default-ulimits", .object([("memlock", memlock)])),
            ("features", .object([("cdi", .bool(true))])),
        ])
        files.append(ConfigFile(name: "daemon.json", contents: daemon.rendered() + "\n", isMarked: false))
        flags = (passthrough.hcas.isEmpty ? [] : ["--device=\(Self.cdiKind)=all"]) + Self.hostFlags
        notes.append("daemon.json cannot hold devices, mounts, environment, capabilities or namespaces: they stay flags")
        if !passthrough.hcas.isEmpty {
            notes.append("--device=\(Self.cdiKind)=all needs docker 25 or later and the CDI spec (baton container-config --runtime cdi --write); before 25 use baton container-flags --runtime docker")
        }
        notes.append("daemon.json has no comments, so it carries no mark: --write replaces an existing one only with --force (merge by hand otherwise)")
    }

    /// enroot's sysconf drop-ins (enroot doc/configuration.md): mounts.d/*.fstab in its fstab
    /// dialect, environ.d/*.env as KEY=VALUE lines.
    mutating func enroot(_ report: ProbeReport) {
        // enroot's own 10-system.fstab already binds /dev and /sys (read-only).
        let extra = passthrough.mounts.filter { $0 != "/sys/class/infiniband" }
        if !extra.isEmpty {
            let lines = extra.map { path in
                let kind = path == "/etc/nccl" ? "dir" : "file"
                return "\(path) \(path) none x-create=\(kind),bind,ro,nosuid,nodev,noexec,nofail\n"
            }
            files.append(ConfigFile(name: "mounts.d/50-baton-rdma.fstab", contents: ConfigFile.header(.enroot) + lines.joined(), isMarked: true))
        }
        var env = passthrough.nccl.variables.map { "\($0.name)=\($0.value)\n" }
        if let visible = RDMAPassthrough.mellanoxVisibleDevices(report, nccl: passthrough.nccl) {
            env.insert("MELLANOX_VISIBLE_DEVICES=\(visible.value)\n", at: 0)
            if let note = visible.note { notes.append(note) }
        }
        if !env.isEmpty {
            files.append(ConfigFile(name: "environ.d/50-baton-nccl.env", contents: ConfigFile.header(.enroot) + env.joined(), isMarked: true))
        }
        notes.append("enroot shares the host's IPC and network and binds /dev and /sys itself; its mellanox hook mounts the chosen uverbs devices")
    }

    /// apptainer.conf's `bind path` lines and an environment file. apptainer reads one
    /// apptainer.conf and no drop-in directory, so Baton never edits it: the lines are
    /// written beside it, to be added by hand (or with `apptainer config global --set`).
    mutating func apptainer() {
        let binds = passthrough.mounts.filter { $0 != "/sys/class/infiniband" }
        if !binds.isEmpty {
            let lines = binds.map { "bind path = \($0)\n" }.joined()
            files.append(ConfigFile(name: "baton-rdma.conf", contents: ConfigFile.header(.apptainer)
                + "# apptainer reads these only from apptainer.conf: add them there (apptainer config global --set \"bind path\" PATH).\n" + lines, isMarked: true))
        }
        if !passthrough.nccl.variables.isEmpty {
            // An env file is read by apptainer's shell interpreter: quote the values.
            let lines = passthrough.nccl.variables.map { "\($0.name)=\(Self.shellQuoted($0.value))\n" }.joined()
            files.append(ConfigFile(name: "baton-nccl.env", contents: ConfigFile.header(.apptainer) + lines, isMarked: true))
            flags = ["--env-file=\(Self.join(directory, "baton-nccl.env"))"]
        }
        notes.append("apptainer shares the host's /dev, /sys, IPC and network by default; with --contain or --containall add --bind=/dev/infiniband")
    }

    /// `name = [ "a", "b" ]` over lines, TOML basic strings; nothing for an empty list.
    static func tomlArray(_ name: String, _ values: [String]) -> String {
        guard !values.isEmpty else { return "" }
        return "\(name) = [\n" + values.map { "  \(OrderedJSON.quote($0)),\n" }.joined() + "]\n"
    }

    /// POSIX single quotes: the value as it is, whatever it holds.
    static func shellQuoted(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
