import ArgumentParser
import BatonTools
import Foundation

extension ContainerRuntime: ExpressibleByArgument {}

struct ContainerFlagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "container-flags",
        abstract: "Container runtime flags and NCCL environment for the RDMA devices on this host.",
        discussion: """
            Prints one flag per line, for use as `docker run $(baton container-flags --runtime docker) IMAGE`. \
            Notes on what was left out go to stderr. --runtime k8s prints a pod-spec fragment in YAML.
            """)

    @OptionGroup var roots: RootOptions

    @Option(help: "docker, podman, apptainer, enroot or k8s.")
    var runtime: ContainerRuntime = .docker

    @Flag(help: "Print a JSON object (flags, devices, mounts, env, notes).")
    var json = false

    @Flag(help: "Print only the NCCL environment as KEY=VALUE lines.")
    var ncclEnv = false

    @Flag(help: "Give the container a private /dev/shm of --shm-size instead of the host's IPC namespace.")
    var noHostIpc = false

    @Option(help: "Size of a private /dev/shm (docker notation).")
    var shmSize = "1g"

    @Option(help: "Kubernetes resource offered by the RDMA device plugin.")
    var k8sResource = "rdma/hca_shared_devices_a"

    func run() throws {
        let report = Prober(roots: roots.roots).run()
        let options = ContainerFlagsOptions(hostIPC: !noHostIpc, shmSize: shmSize, kubernetesRDMAResource: k8sResource)
        let flags = ContainerFlags(report: report, runtime: runtime, options: options,
                                   etcFiles: NCCLConfigFiles(roots: roots.roots))
        if json {
            print(flags.json.rendered())
            return
        }
        print(ncclEnv ? flags.nccl.lines : flags.text, terminator: "")
        let notes = ncclEnv ? flags.nccl.notes : flags.notes
        for note in notes { FileHandle.standardError.write(Data("baton container-flags: \(note)\n".utf8)) }
    }
}
