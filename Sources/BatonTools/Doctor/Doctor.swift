import BatonSupport
import Foundation
import MPI
#if canImport(Glibc)
import Glibc
#endif

/// Everything the doctor reads besides the probe, injectable so it runs on fixture trees.
public struct DoctorContext: Sendable {
    var roots: ProbeRoots
    /// The environment NCCL would see (NCCL_* variables, HOME, PATH).
    var environment: [String: String]
    var runner: any CommandRunner
    /// The linked MPI library's version string (`MPI_Get_library_version`).
    var mpiLibraryVersion: String
    var hostname: String

    public init(roots: ProbeRoots = .system, environment: [String: String] = ProcessInfo.processInfo.environment,
                runner: any CommandRunner = ProcessRunner(), mpiLibraryVersion: String = MPIEnvironment.libraryVersion,
                hostname: String = Doctor.localHostName) {
        self.roots = roots
        self.environment = environment
        self.runner = runner
        self.mpiLibraryVersion = mpiLibraryVersion
        self.hostname = hostname
    }
}

/// Pre-flight checks for RDMA training on one host, each with a verdict, what was seen
/// and the fix.
public struct Doctor: Sendable {
    var context: DoctorContext

    public init(context: DoctorContext) { self.context = context }

    /// gethostname(2): no DNS lookup (Foundation's hostName may resolve, which can hang on
    /// a cluster node with a broken resolver).
    public static var localHostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// memlock below this fails: NCCL and MPI register (pin) buffers of several MiB per
    /// peer and channel; 64 KiB (Docker's default) and 8 MiB (many distributions) both
    /// break ibv_reg_mr with "Cannot allocate memory". NCCL's docs ask for unlimited.
    static let memlockFailBelow: UInt64 = 1 << 30
    /// /dev/shm below this fails: Docker's default 64 MiB makes NCCL die with
    /// "failed to extend /dev/shm/nccl-..."; 1 GiB is NCCL's own advice (--shm-size=1g).
    static let shmFailBelow: UInt64 = 256 << 20
    static let shmWarnBelow: UInt64 = 1 << 30

    public func run(report: ProbeReport) -> DoctorReport {
        DoctorReport(host: context.hostname, checks: [
            rdmaDevices(report), deviceNodes(report), probeFiles(report), memlock(report.limits),
            shm(report.limits), gpuDirect(report), ncclConfig(report), mpirun(),
        ])
    }

    // MARK: - Checks

    func rdmaDevices(_ report: ProbeReport) -> DoctorCheck {
        if report.devices.isEmpty {
            let sysfs = FileReading.isDirectory(context.roots.sysPath("class/infiniband").real)
                ? "/sys/class/infiniband is empty" : "no /sys/class/infiniband"
            return DoctorCheck("rdma-devices", .fail, "no RDMA devices (\(sysfs); libibverbs: \(report.verbs.summary))",
                fix: "install the HCA and load its drivers (e.g. modprobe mlx5_core mlx5_ib ib_uverbs); inside a container pass the devices in (baton container-flags); without RDMA, NCCL falls back to TCP sockets")
        }
        let ports = report.devices.flatMap { d in d.ports.map { (d, $0) } }
        let active = report.activePorts
        if active.isEmpty {
            let states = ports.map { "\($0.0.name):\($0.1.number) \($0.1.state ?? "?")/\($0.1.physState ?? "?")" }
            let anyInit = ports.contains { $0.1.stateCode == 2 || $0.1.stateCode == 3 }
            return DoctorCheck("rdma-devices", .fail, "\(report.devices.count) device\(report.devices.count == 1 ? "" : "s") but no port ACTIVE (\(states.joined(separator: ", ")))",
                fix: anyInit
                    ? "a port in INIT/ARMED has link but no subnet manager configured it: start opensm or check the fabric's subnet manager"
                    : "check cables and switch ports (Polling = no link partner; Disabled = port turned off)")
        }
        let list = active.map { "\($0.device.name):\($0.port.number) \($0.port.linkLayer ?? "?")\($0.port.rateGbps.map { " " + formatNumber($0) + " Gb/s" } ?? "")" }
        var seen = "\(active.count) of \(ports.count) ports ACTIVE: \(Self.shortList(list))"
        let down = ports.filter { !$0.1.isActive }
        if !down.isEmpty {
            seen += "; not active: " + Self.shortList(down.map { "\($0.0.name):\($0.1.number) \($0.1.state ?? "?")" })
        }
        return DoctorCheck("rdma-devices", .pass, seen)
    }

    func deviceNodes(_ report: ProbeReport) -> DoctorCheck {
        let uverbsNodes = report.deviceNodes.filter { $0.hasPrefix("/dev/infiniband/uverbs") }
        if report.devices.isEmpty {
            if uverbsNodes.isEmpty {
                return DoctorCheck("device-nodes", .fail, "no /dev/infiniband/uverbs* nodes",
                    fix: "load ib_uverbs (modprobe ib_uverbs); inside a container add --device=/dev/infiniband/uverbsN for each HCA")
            }
            return DoctorCheck("device-nodes", .warn, "\(uverbsNodes.count) uverbs nodes but no device in /sys/class/infiniband",
                fix: "mount the host's /sys/class/infiniband (read-only) into the container")
        }
        var failures: [String] = []
        var fixes: [String] = []
        var ok: [String] = []
        for d in report.devices {
            guard let uverbs = d.uverbs else {
                failures.append("\(d.name) has no uverbs device")
                fixes.append("load ib_uverbs so that \(d.name) gets /dev/infiniband/uverbsN")
                continue
            }
            let node = context.roots.devPath("infiniband/\(uverbs)")
            if !FileReading.exists(node.real) {
                failures.append("\(node.logical) (\(d.name)) missing")
                fixes.append("libibverbs drops a device without its node: inside a container add --device=\(node.logical)")
                continue
            }
            let fd = open(node.real, O_RDWR | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                failures.append("cannot open \(node.logical) (\(d.name)): \(FileReading.errnoText(e))")
                fixes.append(e == EACCES || e == EPERM
                    ? "give this user read-write access to \(node.logical) (udev rule: MODE=\"0666\" or the rdma group)"
                    : "check \(node.logical)")
                continue
            }
            close(fd)
            if d.seenByVerbs == false {
                failures.append("libibverbs does not list \(d.name)")
                fixes.append("install the userspace provider for \(d.driver ?? "the driver") (Debian: ibverbs-providers)")
                continue
            }
            ok.append(uverbs)
        }
        let rdmaCM = report.deviceNodes.contains("/dev/infiniband/rdma_cm")
        if !failures.isEmpty {
            return DoctorCheck("device-nodes", .fail, failures.joined(separator: "; "), fix: Self.unique(fixes).joined(separator: "; "))
        }
        let seen = "\(Self.shortList(ok)) present and openable"
        if !rdmaCM {
            return DoctorCheck("device-nodes", .warn, seen + "; no /dev/infiniband/rdma_cm",
                fix: "load rdma_ucm (modprobe rdma_ucm) if anything connects through rdma_cm (MPI/UCX with RDMA CM, perftest -R); NCCL does not need it")
        }
        return DoctorCheck("device-nodes", .pass, seen + "; rdma_cm present")
    }

    func probeFiles(_ report: ProbeReport) -> DoctorCheck {
        if report.problems.isEmpty { return DoctorCheck("probe-files", .pass, "every RDMA sysfs file read and parsed") }
        let first = report.problems[0]
        return DoctorCheck("probe-files", .warn, "could not use \(report.problems.count) file\(report.problems.count == 1 ? "" : "s"), first \(first.path): \(first.problem)",
            fix: "run `baton probe` for the full list; garbled or missing sysfs files usually mean a driver/kernel mismatch")
    }

    func memlock(_ limits: ResourceLimits) -> DoctorCheck {
        let fix = "set `* - memlock unlimited` in /etc/security/limits.conf (LimitMEMLOCK=infinity for systemd or slurmd units) and log in again; in docker: --ulimit memlock=-1"
        if limits.memlockUnknown {
            return DoctorCheck("memlock", .warn, "memlock limit unknown (no readable /proc/self/limits)", fix: "check `ulimit -l`; it should say unlimited")
        }
        guard let bytes = limits.memlockBytes else { return DoctorCheck("memlock", .pass, "memlock unlimited") }
        if limits.hasIPCLock == true {
            return DoctorCheck("memlock", .pass, "memlock \(ByteSize.human(bytes)), but CAP_IPC_LOCK is held: pinning is not limited")
        }
        if bytes < Self.memlockFailBelow {
            return DoctorCheck("memlock", .fail, "memlock limit \(ByteSize.human(bytes)): registering RDMA buffers past it fails with \"Cannot allocate memory\"", fix: fix)
        }
        return DoctorCheck("memlock", .warn, "memlock limit \(ByteSize.human(bytes)); NCCL and MPI advise unlimited", fix: fix)
    }

    func shm(_ limits: ResourceLimits) -> DoctorCheck {
        let fix = "in docker use --ipc=host or --shm-size=1g (baton container-flags); on a host: mount -o remount,size=8g /dev/shm"
        guard let bytes = limits.shmBytes else {
            return DoctorCheck("shm", .fail, "no /dev/shm", fix: "mount a tmpfs on /dev/shm; NCCL and Open MPI's shared-memory transport need it")
        }
        if bytes < Self.shmFailBelow {
            return DoctorCheck("shm", .fail, "/dev/shm is \(ByteSize.human(bytes)): NCCL fails with \"failed to extend /dev/shm/nccl-...\"", fix: fix)
        }
        if bytes < Self.shmWarnBelow {
            return DoctorCheck("shm", .warn, "/dev/shm is \(ByteSize.human(bytes)), under the 1 GiB NCCL advises", fix: fix)
        }
        return DoctorCheck("shm", .pass, "/dev/shm is \(ByteSize.human(bytes))")
    }

    func gpuDirect(_ report: ProbeReport) -> DoctorCheck {
        let gpus = gpuCount()
        if gpus == 0 { return DoctorCheck("gpudirect", .pass, "no NVIDIA GPU found: nvidia_peermem not needed") }
        if report.devices.isEmpty {
            return DoctorCheck("gpudirect", .pass, "\(gpus) NVIDIA GPU\(gpus == 1 ? "" : "s") but no RDMA device: GPUDirect RDMA does not apply")
        }
        let modulesPath = context.roots.procPath("modules")
        guard let modules = FileReading.read(modulesPath.real).text else {
            return DoctorCheck("gpudirect", .warn, "\(gpus) NVIDIA GPUs, but \(modulesPath.logical) is unreadable: cannot tell whether nvidia_peermem is loaded",
                fix: "check with `lsmod | grep nvidia_peermem` on the host")
        }
        let loaded = Set(modules.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        if let name = ["nvidia_peermem", "nv_peer_mem"].first(where: loaded.contains) {
            return DoctorCheck("gpudirect", .pass, "\(gpus) NVIDIA GPUs and \(name) loaded: GPUDirect RDMA available")
        }
        return DoctorCheck("gpudirect", .warn, "\(gpus) NVIDIA GPUs and RDMA devices, but nvidia_peermem is not loaded: NCCL stages GPU buffers through host memory",
            fix: "modprobe nvidia_peermem (ships with the NVIDIA driver since 470) and load it at boot (/etc/modules-load.d)")
    }

    /// GPUs from /proc/driver/nvidia/gpus/*, else /dev/nvidiaN nodes.
    func gpuCount() -> Int {
        if let gpus = FileReading.list(context.roots.procPath("driver/nvidia/gpus").real), !gpus.isEmpty { return gpus.count }
        let nodes = FileReading.list(context.roots.dev) ?? []
        return nodes.filter { $0.hasPrefix("nvidia") && Int($0.dropFirst(6)) != nil }.count
    }

    func ncclConfig(_ report: ProbeReport) -> DoctorCheck {
        let files = NCCLConfigFiles(roots: context.roots, environment: context.environment)
        var settings: [(key: String, value: String, source: String)] = []
        for (name, value) in context.environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("NCCL_") && name != "NCCL_CONF_FILE" {
            settings.append((name, value, "environment"))
        }
        for file in files.files {
            for s in file.settings { settings.append((s.key, s.value, "\(file.path) line \(s.line)")) }
        }
        if settings.isEmpty {
            return DoctorCheck("nccl-config", .pass, "no NCCL settings in the environment, ~/.nccl.conf or /etc/nccl.conf: NCCL chooses devices itself")
        }
        var warnings: [String] = []
        var fixes: [String] = []
        for s in settings {
            switch s.key {
            case "NCCL_IB_HCA":
                warnings += hcaWarnings(s.value, source: s.source, report: report)
                if !warnings.isEmpty && !fixes.contains(where: { $0.hasPrefix("use the exact") }) {
                    let suggested = NCCLEnvironment(report: report)["NCCL_IB_HCA"]
                    fixes.append("use the exact-match form of active ports" + (suggested.map { ": NCCL_IB_HCA=\($0)" } ?? "") + " (baton container-flags --nccl-env)")
                }
            case "NCCL_IB_DISABLE" where s.value == "1":
                warnings.append("NCCL_IB_DISABLE=1 (\(s.source)) turns InfiniBand/RoCE off: NCCL uses sockets")
                fixes.append("remove NCCL_IB_DISABLE=1")
            default: break
            }
        }
        let sources = Self.unique(settings.map { $0.source.components(separatedBy: " line ")[0] })
        let seen = "\(settings.count) setting\(settings.count == 1 ? "" : "s") from \(sources.joined(separator: ", "))"
        if warnings.isEmpty { return DoctorCheck("nccl-config", .pass, seen) }
        return DoctorCheck("nccl-config", .warn, seen + "; " + warnings.joined(separator: "; "), fix: fixes.joined(separator: "; "))
    }

    /// What is wrong with an NCCL_IB_HCA value on this machine: prefix entries that also
    /// select other devices, or select ports that are not ACTIVE.
    func hcaWarnings(_ value: String, source: String, report: ProbeReport) -> [String] {
        var warnings: [String] = []
        let ports = report.devices.flatMap { d in d.ports.map { (d, $0) } }
        let selected = ports.filter { NCCLEnvironment.hcaListSelects(value, device: $0.0.name, port: $0.1.number) }
        let isExclusion = value.hasPrefix("^")
        if !isExclusion && !value.hasPrefix("=") {
            for entry in value.split(separator: ",") {
                let name = String(entry.split(separator: ":").first ?? "")
                let extra = report.devices.map(\.name).filter { $0 != name && $0.hasPrefix(name) }
                if !extra.isEmpty {
                    warnings.append("NCCL_IB_HCA=\(value) (\(source)) is a prefix match: \(name) also selects \(extra.joined(separator: ", "))")
                }
            }
        }
        let inactive = selected.filter { !$0.1.isActive }
        if !inactive.isEmpty {
            warnings.append("NCCL_IB_HCA=\(value) (\(source)) selects ports that are not ACTIVE: \(inactive.map { "\($0.0.name):\($0.1.number)" }.joined(separator: ", "))")
        }
        if selected.isEmpty && !report.devices.isEmpty {
            warnings.append("NCCL_IB_HCA=\(value) (\(source)) selects no port on this host")
        }
        return warnings
    }

    func mpirun() -> DoctorCheck {
        let library = Self.openMPIVersion(library: context.mpiLibraryVersion)
        let libraryText = library.map { "Open MPI \($0)" } ?? "\"\(context.mpiLibraryVersion.prefix(60))\""
        guard let path = ProcessRunner.which("mpirun", environment: context.environment) else {
            return DoctorCheck("mpirun", .fail, "no mpirun on PATH (baton is linked against \(libraryText))",
                fix: "install Open MPI's launcher (Debian: openmpi-bin) or put the bin directory of the Open MPI baton was built against first on PATH")
        }
        let result: CommandResult
        do {
            result = try context.runner.run([path, "--version"], timeout: 30)
        } catch {
            return DoctorCheck("mpirun", .fail, "\(path) --version could not be run: \(error)", fix: "check that \(path) is an executable Open MPI mpirun")
        }
        guard let launcher = Self.openMPIVersion(mpirunOutput: result.stdout + "\n" + result.stderr) else {
            let said = (result.stdout + result.stderr).split(separator: "\n").first.map(String.init) ?? "nothing"
            return DoctorCheck("mpirun", .fail, "\(path) is not Open MPI's mpirun (it says: \(said.prefix(80)))",
                fix: "put the bin directory of Open MPI (\(libraryText)) first on PATH; baton's rank processes need the matching daemons")
        }
        guard let library else {
            return DoctorCheck("mpirun", .warn, "\(path) is Open MPI \(launcher), but the linked MPI library says \(libraryText)",
                fix: "build baton against the Open MPI whose mpirun you use")
        }
        if launcher != library {
            return DoctorCheck("mpirun", .fail, "\(path) is Open MPI \(launcher) but baton is linked against Open MPI \(library)",
                fix: "put the bin directory of Open MPI \(library) first on PATH (or rebuild baton against \(launcher)); mixed versions fail at start-up")
        }
        return DoctorCheck("mpirun", .pass, "\(path) is Open MPI \(launcher), the same as the linked libmpi")
    }

    /// "mpirun (Open MPI) 4.1.4" -> "4.1.4".
    static func openMPIVersion(mpirunOutput text: String) -> String? {
        for line in text.split(separator: "\n") {
            guard let range = line.range(of: "(Open MPI) ") else { continue }
            let version = line[range.upperBound...].split(separator: " ").first.map(String.init)
            if let version, !version.isEmpty { return version }
        }
        return nil
    }

    /// "Open MPI v4.1.4, package: ..." -> "4.1.4".
    static func openMPIVersion(library text: String) -> String? {
        guard let range = text.range(of: "Open MPI v") else { return nil }
        let rest = text[range.upperBound...]
        let version = rest.prefix { !$0.isWhitespace && $0 != "," }
        return version.isEmpty ? nil : String(version)
    }

    static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    /// The first few items, then "and N more".
    static func shortList(_ items: [String], limit: Int = 6) -> String {
        if items.count <= limit { return items.joined(separator: ", ") }
        return items.prefix(limit).joined(separator: ", ") + " and \(items.count - limit) more"
    }
}
