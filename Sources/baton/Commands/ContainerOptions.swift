import ArgumentParser
import BatonProtocol

/// `launch --container`: every rank's command inside an image (docs/launch.md, "Containers").
struct ContainerOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Run every rank's command inside this image; `baton exec` stays on the host as its supervisor.",
                               valueName: "image"))
    var container: String?
    @Option(help: "The container runtime: podman (default), docker, or a script that runs one.") var containerRuntime = "podman"
    @Option(parsing: .unconditionalSingleValue,
            help: ArgumentHelp("An option of the runtime's `run`, before the image (repeatable), e.g. --container-option=--device=baton.dev/rdma=all.",
                               valueName: "option"))
    var containerOption: [String] = []

    var run: ContainerRun? { container.map { ContainerRun(image: $0, runtime: containerRuntime, options: containerOption) } }
}
