import ArgumentParser
import BatonTools

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "List RDMA devices, ports, GIDs, device nodes and limits.",
        discussion: """
            Reads sysfs (like ibstat) and asks libibverbs (like ibv_devinfo) when the sysfs \
            root is /sys; the output says which. No devices is a normal answer (exit 0).
            """)

    @OptionGroup var roots: RootOptions

    @Flag(help: "Print a JSON object instead of the table.")
    var json = false

    func run() throws {
        let report = Prober(roots: roots.roots).run()
        print(json ? report.json.rendered() : report.table, terminator: json ? "\n" : "")
    }
}
