import ArgumentParser
import BatonTools
import Foundation

extension ContainerConfigRuntime: ExpressibleByArgument {}

struct ContainerConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container-config",
        abstract: "The container runtime's own configuration files for the RDMA devices on this host.",
        discussion: """
            From the same probe as container-flags: a CDI spec, a podman containers.conf drop-in, \
            docker's daemon.json, enroot's mounts.d and environ.d files, or apptainer's bind lines \
            and environment file, followed by the flags no configuration file can hold. Without \
            --write the files are printed; notes on what was left out go to stderr. --write puts \
            them where the runtime reads them (or under DIR), each atomically, and never replaces \
            a file Baton did not write unless --force is given.
            """)

    @OptionGroup var roots: RootOptions

    @Option(help: "cdi, podman, docker, enroot or apptainer.")
    var runtime: ContainerConfigRuntime

    @Flag(name: .customLong("write"), help: "Write the files where the runtime reads them (e.g. /etc/cdi), or under DIR.")
    var writing = false

    @Argument(help: ArgumentHelp("With --write: the directory to write under instead.", valueName: "DIR"))
    var writeDirectory: String?

    @Flag(help: "Replace files Baton did not write.")
    var force = false

    @Flag(help: "Print a JSON object (directory, files, flags, notes, and what --write did).")
    var json = false

    func validate() throws {
        if force && !writing { throw ValidationError("--force only makes sense with --write") }
        if writeDirectory != nil && !writing { throw ValidationError("a directory only makes sense with --write") }
    }

    func run() throws {
        let report = Prober(roots: roots.roots).run()
        let config = ContainerConfig(report: report, runtime: runtime, etcFiles: NCCLConfigFiles(roots: roots.roots),
                                     directory: writeDirectory)
        var written: [WrittenFile]?
        if writing {
            written = try ConfigFileWriter.write(config, force: force)
        }
        if json {
            print(config.json(written: written).rendered())
        } else if let written {
            for file in written { print("\(file.action.rawValue): \(file.path)") }
            if written.isEmpty { print("nothing to write") }
            if !config.flags.isEmpty { print("still give: " + config.flags.joined(separator: " ")) }
        } else {
            print(config.text, terminator: "")
        }
        for note in config.notes { FileHandle.standardError.write(Data("baton container-config: \(note)\n".utf8)) }
    }
}
