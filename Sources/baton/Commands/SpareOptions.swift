import ArgumentParser
import BatonLaunch

extension HealthCheckMode: ExpressibleByArgument {}

/// The spare-node and health-gate options of `launch` (docs/launch.md, "Spare nodes and
/// the health gate").
struct SpareOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Nodes an attempt runs on: N, or MIN:MAX. Hosts beyond it are spares: a lost node's place goes to a spare (WORLD_SIZE stays); with none left the job goes on down to MIN and grows back at a later restart.",
                               valueName: "N|MIN:MAX"))
    var nnodes: String?
    @Option(help: "A lost or suspect node may rejoin as a spare this long after it left, if it passes the health gate.")
    var coolDown = "60s"
    @Option(help: "Check the nodes before every attempt (auto: with --nnodes).") var healthCheck: HealthCheckMode = .auto
    @Option(help: "A node's check must answer within this.") var healthTimeout = "10s"
    @Option(help: "Free space the run and checkpoint directories need on a node (e.g. 256M, 10G).") var healthMinFree = "256M"
    @Option(help: "The memlock limit a node needs (e.g. 64M; RDMA pins buffers); not checked unless given.") var healthMinMemlock: String?

    var settings: PoolSettings {
        var s = PoolSettings()
        (s.nnodes, s.coolDown, s.healthCheck) = (nnodes, coolDown, healthCheck)
        (s.healthTimeout, s.healthMinFree, s.healthMinMemlock) = (healthTimeout, healthMinFree, healthMinMemlock)
        return s
    }
}
