import BatonSupport
/// A container runtime Baton writes flags for.
public enum ContainerRuntime: String, Sendable, CaseIterable {
    case docker, podman, apptainer, enroot, k8s
}

/// Choices the probe cannot make.
public struct ContainerFlagsOptions: Sendable, Equatable {
    /// Share the host's IPC namespace (and so its /dev/shm). Otherwise the container gets
    /// a private /dev/shm of `shmSize`.
    var hostIPC: Bool
    /// Size for the container's /dev/shm, in docker's notation ("1g": NCCL's own advice).
    var shmSize: String
    /// Kubernetes resource an RDMA device plugin offers.
    var kubernetesRDMAResource: String
    /// Name of the container in the Kubernetes fragment.
    var kubernetesContainerName: String

    public init(hostIPC: Bool = true, shmSize: String = "1g", kubernetesRDMAResource: String = "rdma/hca_shared_devices_a", kubernetesContainerName: String = "trainer") {
        self.hostIPC = hostIPC
        self.shmSize = shmSize
        self.kubernetesRDMAResource = kubernetesRDMAResource
        self.kubernetesContainerName = kubernetesContainerName
    }
}

/// The flags one runtime needs to reach the RDMA devices the probe found, with the NCCL
/// environment. Paths are the host's (logical) paths.
public struct ContainerFlags: Sendable {
    var runtime: ContainerRuntime
    /// One entry per output line; an entry may hold an option and its value separated by
    /// a space (enroot, apptainer), which `$(...)` splits as intended.
    var flags: [String]
    /// Device nodes passed in.
    var devices: [String]
    /// Read-only mounts (source = destination).
    var mounts: [String]
    public var nccl: NCCLEnvironment
    /// For people: what was left out and why, what the runtime does by itself.
    public var notes: [String]
    /// The Kubernetes fragment (k8s only).
    var yaml: String?

    public init(report: ProbeReport, runtime: ContainerRuntime, options: ContainerFlagsOptions = .init(), etcFiles: NCCLConfigFiles) {
        self.runtime = runtime
        let passthrough = RDMAPassthrough(report: report, etcFiles: etcFiles)
        nccl = passthrough.nccl
        notes = passthrough.notes
        devices = passthrough.devices
        if report.devices.isEmpty { notes.append("no RDMA devices found: no --device flags") }
        mounts = passthrough.mounts
        flags = []
        yaml = nil
        switch runtime {
        case .docker, .podman: dockerLike(options)
        case .apptainer: apptainer()
        case .enroot: enroot(report)
        case .k8s: yaml = kubernetes(options)
        }
        if let memlock = report.limits.memlockBytes, runtime == .apptainer || runtime == .enroot {
            notes.append("\(runtime.rawValue) keeps the host's memlock limit (\(ByteSize.human(memlock))): raise it on the host (limits.conf or the Slurm/systemd unit)")
        }
    }

    private mutating func dockerLike(_ options: ContainerFlagsOptions) {
        flags += devices.map { "--device=\($0)" }
        flags.append("--cap-add=IPC_LOCK")
        // Docker applies a single value to soft and hard; podman wants both spelled out.
        flags.append(runtime == .podman ? "--ulimit=memlock=-1:-1" : "--ulimit=memlock=-1")
        if options.hostIPC {
            flags.append("--ipc=host")
            if runtime == .docker {
                flags.append("--shm-size=\(options.shmSize)")
            } else {
                notes.append("podman refuses --shm-size with --ipc=host: the container uses the host's /dev/shm")
            }
        } else {
            flags.append("--shm-size=\(options.shmSize)")
        }
        flags.append("--network=host")
        flags += mounts.map { "--volume=\($0):\($0):ro" }
        flags += nccl.variables.map { "--env=\($0.name)=\($0.value)" }
    }

    private mutating func apptainer() {
        // Apptainer shares the host's /dev, /sys, IPC and network by default, so only the
        // config files and the environment need saying.
        flags += mounts.filter { $0 != "/sys/class/infiniband" }.map { "--bind=\($0):\($0):ro" }
        flags += nccl.variables.map { "--env=\($0.name)=\($0.value)" }
        notes.append("apptainer shares the host's /dev, /sys, IPC and network by default; with --contain or --containall add --bind=/dev/infiniband")
    }

    private mutating func enroot(_ report: ProbeReport) {
        if let visible = RDMAPassthrough.mellanoxVisibleDevices(report, nccl: nccl) {
            flags.append("--env MELLANOX_VISIBLE_DEVICES=" + visible.value)
            if let note = visible.note { notes.append(note) }
        }
        flags += mounts.filter { $0 != "/sys/class/infiniband" }.map { "--mount \($0):\($0)" }
        flags += nccl.variables.map { "--env \($0.name)=\($0.value)" }
        notes.append("enroot shares the host's IPC and network; its mellanox hook mounts the chosen uverbs devices and their sysfs entries")
    }

    private func kubernetes(_ options: ContainerFlagsOptions) -> String {
        var y: [String] = []
        y.append("# Pod spec fields (merge under `spec:`), written by baton container-flags --runtime k8s")
        y.append("hostNetwork: true")
        if options.hostIPC { y.append("hostIPC: true") }
        let volumes = mounts.filter { $0 != "/sys/class/infiniband" } + (options.hostIPC ? [] : ["/dev/shm"])
        if !volumes.isEmpty {
            y.append("volumes:")
            for m in volumes {
                y.append("  - name: \(Self.volumeName(m))")
                if m == "/dev/shm" {
                    y.append("    emptyDir:")
                    y.append("      medium: Memory")
                    y.append("      sizeLimit: \(Self.yamlString(Self.kubernetesQuantity(options.shmSize)))")
                } else {
                    y.append("    hostPath:")
                    y.append("      path: \(Self.yamlString(m))")
                }
            }
        }
        y.append("containers:")
        y.append("  - name: \(Self.yamlString(options.kubernetesContainerName))")
        y.append("    securityContext:")
        y.append("      capabilities:")
        y.append("        add: [\"IPC_LOCK\"]")
        if !devices.isEmpty {
            y.append("    resources:")
            y.append("      limits:")
            y.append("        \(options.kubernetesRDMAResource): 1")
            y.append("      requests:")
            y.append("        \(options.kubernetesRDMAResource): 1")
        }
        if !nccl.variables.isEmpty {
            y.append("    env:")
            for v in nccl.variables {
                y.append("      - name: \(v.name)")
                y.append("        value: \(Self.yamlString(v.value))")
            }
        }
        if !volumes.isEmpty {
            y.append("    volumeMounts:")
            for m in volumes {
                y.append("      - name: \(Self.volumeName(m))")
                y.append("        mountPath: \(Self.yamlString(m))")
                if m != "/dev/shm" { y.append("        readOnly: true") }
            }
        }
        return y.joined(separator: "\n") + "\n"
    }

    /// "/etc/nccl.conf" -> "etc-nccl-conf" (a DNS-1123 label).
    static func volumeName(_ path: String) -> String {
        let chars = path.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        var name = String(chars).split(separator: "-").joined(separator: "-")
        if name.count > 63 { name = String(name.prefix(63)) }
        return name
    }

    /// Always double-quoted: values such as "=mlx5_0:1" must stay strings.
    static func yamlString(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }

    /// docker's "1g" -> Kubernetes' "1Gi".
    static func kubernetesQuantity(_ size: String) -> String {
        guard let last = size.last?.lowercased() else { return size }
        switch last {
        case "k": return size.dropLast() + "Ki"
        case "m": return size.dropLast() + "Mi"
        case "g": return size.dropLast() + "Gi"
        default: return size
        }
    }

    /// What `baton container-flags` prints on stdout.
    public var text: String {
        if let yaml { return yaml }
        return flags.map { $0 + "\n" }.joined()
    }

    public var json: OrderedJSON {
        .object([
            ("runtime", .string(runtime.rawValue)),
            ("flags", .array(flags.map { .string($0) })),
            ("devices", .array(devices.map { .string($0) })),
            ("mounts", .array(mounts.map { .string($0) })),
            ("env", .object(nccl.variables.map { ($0.name, .string($0.value)) })),
            ("yaml", yaml.map { .string($0) } ?? .null),
            ("notes", .array(notes.map { .string($0) })),
        ])
    }
}
