import Foundation

/// Where the probe reads the machine from. Each root stands for one system directory;
/// tests point them at fixture trees. Paths shown to the user are always the logical
/// ones ("/sys/class/infiniband/mlx5_0/ports/1/state"), whatever the root, so output
/// from a fixture reads like output from a real machine.
public struct ProbeRoots: Sendable, Equatable {
    /// Stands for /sys.
    var sysfs: String
    /// Stands for /dev.
    var dev: String
    /// Stands for /proc (limits, mounts, modules, NVIDIA driver).
    var proc: String
    /// Stands for /etc (NCCL configuration).
    var etc: String

    public init(sysfs: String = "/sys", dev: String = "/dev", proc: String = "/proc", etc: String = "/etc") {
        self.sysfs = sysfs
        self.dev = dev
        self.proc = proc
        self.etc = etc
    }

    /// All four under one directory: DIR/sys, DIR/dev, DIR/proc, DIR/etc (a fixture tree).
    public init(under root: String) {
        self.init(sysfs: root + "/sys", dev: root + "/dev", proc: root + "/proc", etc: root + "/etc")
    }

    public static let system = ProbeRoots()

    /// True when the sysfs root is the real /sys, i.e. what libibverbs sees is the same
    /// machine the sysfs reader reads.
    var sysfsIsSystem: Bool { ProbeRoots.normalize(sysfs) == "/sys" }

    static func normalize(_ path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    func sysPath(_ relative: String) -> RootedPath { RootedPath(root: sysfs, logicalRoot: "/sys", relative: relative) }
    func devPath(_ relative: String) -> RootedPath { RootedPath(root: dev, logicalRoot: "/dev", relative: relative) }
    func procPath(_ relative: String) -> RootedPath { RootedPath(root: proc, logicalRoot: "/proc", relative: relative) }
    func etcPath(_ relative: String) -> RootedPath { RootedPath(root: etc, logicalRoot: "/etc", relative: relative) }
}

/// A path under one of the roots: `real` is where it is read, `logical` what is shown.
struct RootedPath: Sendable, Equatable {
    let real: String
    let logical: String

    init(root: String, logicalRoot: String, relative: String) {
        let rel = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        let base = ProbeRoots.normalize(root)
        real = rel.isEmpty ? base : (base == "/" ? "/" + rel : base + "/" + rel)
        logical = rel.isEmpty ? logicalRoot : logicalRoot + "/" + rel
    }

    private init(real: String, logical: String) {
        self.real = real
        self.logical = logical
    }

    func appending(_ component: String) -> RootedPath {
        RootedPath(real: real + "/" + component, logical: logical + "/" + component)
    }
}
