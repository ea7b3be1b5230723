import ArgumentParser
import BatonProtocol

/// `launch --container`: every rank's command inside an image (docs/launch.md, "Containers").
struct ContainerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run every rank's command inside this image; `baton exec` stays on the host as its supervisor.",
                               valueName: "image"))
    var container: String?
    @Option(help: ArgumentHelp(
        "The container runtime: podman (default), docker, apptainer or enroot, or a script that runs one (the end of its name says which).",
        discussion: "apptainer (exec) and enroot (start) command lines are built from their documentation: neither runtime is packaged by Debian 12, and neither was run by Baton's tests."))
    var containerRuntime = "podman"
    @Option(parsing: .unconditionalSingleValue,
            help: ArgumentHelp("An option of the runtime's `run` (`exec`, `start`), before the image (repeatable), e.g. --container-option=--device=baton.dev/rdma=all.",
                               valueName: "option"))
    var containerOption: [String] = []

    var run: ContainerRun? { container.map { ContainerRun(image: $0, runtime: containerRuntime, options: containerOption) } }
}
