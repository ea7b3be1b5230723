import BatonSupport

/// A container runtime Baton writes configuration files for.
public enum ContainerConfigRuntime: String, Sendable, CaseIterable {
    case cdi, podman, docker, enroot, apptainer

    /// The directory the runtime reads the files from, as root on the host (`--write` without
    /// a directory). The file names of `ContainerConfig.files` are relative to it.
    var directory: String {
        switch self {
        case .cdi: "/etc/cdi"
        case .podman: "/etc/containers/containers.conf.d"
        case .docker: "/etc/docker"
        case .enroot: "/etc/enroot"
        case .apptainer: "/etc/apptainer"
        }
    }
}

/// One file of a runtime's configuration: its name under the runtime's directory and what it
/// holds.
struct ConfigFile: Sendable, Equatable {
    /// Relative to the runtime's directory (`mounts.d/50-baton-rdma.fstab`).
    var name: String
    var contents: String
    /// Whether the format has comments, so the file carries `ConfigFile.mark` on its first line.
    /// A file that cannot (docker's daemon.json) is never replaced without --force unless it
    /// already holds exactly these contents.
    var isMarked: Bool

    /// The first line of every file Baton writes where the format allows a comment: how
    /// `--write` tells its own files from a file someone else wrote.
    static let mark = "# Written by baton container-config"

    /// Whether existing contents are a file Baton wrote.
    static func isBatons(_ contents: String) -> Bool { contents.hasPrefix(mark) }

    static func header(_ runtime: ContainerConfigRuntime) -> String {
        "\(mark) --runtime \(runtime.rawValue) from a probe of this host; `baton container-config --write` replaces it.\n"
    }
}

/// A runtime's own configuration for the RDMA devices the probe found, with the NCCL
/// environment: the files the runtime reads, and the flags no file of it can hold.
/// A pure value from the probe; `ConfigFileWriter` puts the files in place.
public struct ContainerConfig: Sendable {
    /// The kind of the CDI spec (`--device baton.dev/rdma=all`).
    static let cdiKind = "baton.dev/rdma"

    var runtime: ContainerConfigRuntime
    /// Where the files go: the runtime's own directory, or the one given to --write.
    var directory: String
    /// The files, in the order they are printed and written. Empty when there is nothing to
    /// configure (no RDMA device and no NCCL configuration file).
    var files: [ConfigFile]
    /// What must still be given on each container's command line.
    public var flags: [String]
    /// For people: what was left out and why, what the runtime cannot express.
    public var notes: [String]

    let passthrough: RDMAPassthrough

    public init(report: ProbeReport, runtime: ContainerConfigRuntime, etcFiles: NCCLConfigFiles, directory: String? = nil) {
        self.runtime = runtime
        self.directory = directory ?? runtime.directory
        passthrough = RDMAPassthrough(report: report, etcFiles: etcFiles)
        notes = passthrough.notes
        files = []
        flags = []
        switch runtime {
        case .cdi: cdi()
        case .podman: podman()
        case .docker: docker()
        case .enroot: enroot(report)
        case .apptainer: apptainer()
        }
        if let memlock = report.limits.memlockBytes, runtime == .apptainer || runtime == .enroot {
            notes.append("\(runtime.rawValue) keeps the host's memlock limit (\(ByteSize.human(memlock))): raise it on the host (limits.conf or the Slurm/systemd unit)")
        }
    }

    /// What `baton container-config` prints without --json: each file under a `==> PATH <==`
    /// line (as `head` prints several files), then the flags that stay flags.
    public var text: String {
        var out = files.map { "==> \(Self.join(directory, $0.name)) <==\n\($0.contents)" }.joined(separator: "\n")
        if !flags.isEmpty {
            if !out.isEmpty { out += "\n" }
            out += "==> flags no \(runtime.rawValue) configuration file can hold <==\n"
            out += flags.map { $0 + "\n" }.joined()
        }
        return out
    }

    public func json(written: [WrittenFile]? = nil) -> OrderedJSON {
        let dir = directory
        var members: [(String, OrderedJSON)] = [
            ("runtime", .string(runtime.rawValue)),
            ("directory", .string(dir)),
            ("files", .array(files.map { file in
                .object([("path", .string(Self.join(dir, file.name))), ("contents", .string(file.contents))])
            })),
            ("flags", .array(flags.map { .string($0) })),
            ("notes", .array(notes.map { .string($0) })),
        ]
        if let written {
            members.append(("written", .array(written.map {
                .object([("path", .string($0.path)), ("action", .string($0.action.rawValue))])
            })))
        }
        return .object(members)
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
