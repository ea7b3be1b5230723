import ArgumentParser
import BatonTools

/// Where probe, doctor and container-flags read the machine from. Tests point these at
/// fixture trees; paths in the output stay the logical ones (/sys/..., /dev/...).
struct RootOptions: ParsableArguments {
    @Option(help: "Directory that stands for /sys.")
    var sysfsRoot: String = "/sys"

    @Option(help: "Directory that stands for /dev.")
    var devRoot: String = "/dev"

    @Option(help: "Directory that stands for /proc (limits, /dev/shm mount, modules, GPUs).")
    var procRoot: String = "/proc"

    @Option(help: "Directory that stands for /etc (NCCL configuration).")
    var etcRoot: String = "/etc"

    @Option(help: "A fixture tree: sets the four roots to DIR/sys, DIR/dev, DIR/proc and DIR/etc.")
    var root: String?

    var roots: ProbeRoots {
        if let root { return ProbeRoots(under: root) }
        return ProbeRoots(sysfs: sysfsRoot, dev: devRoot, proc: procRoot, etc: etcRoot)
    }

    /// The same options as arguments, to hand on to `baton doctor` on other hosts.
    var forwarded: [String] {
        if let root { return ["--root", root] }
        var args: [String] = []
        if sysfsRoot != "/sys" { args += ["--sysfs-root", sysfsRoot] }
        if devRoot != "/dev" { args += ["--dev-root", devRoot] }
        if procRoot != "/proc" { args += ["--proc-root", procRoot] }
        if etcRoot != "/etc" { args += ["--etc-root", etcRoot] }
        return args
    }
}
