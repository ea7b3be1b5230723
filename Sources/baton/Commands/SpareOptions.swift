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
    @Option(help: "Check the nodes before every attempt (auto: with --nnodes; bandwidth: also measure the attempt's nodes together, one round of bench matrix).")
    var healthCheck: HealthCheckMode = .auto
    @Option(help: "A node's check must answer within this.") var healthTimeout = "10s"
    @Option(help: "Free space the run and checkpoint directories need on a node (e.g. 256M, 10G).") var healthMinFree = "256M"
    @Option(help: "The memlock limit a node needs (e.g. 64M; RDMA pins buffers); not checked unless given.") var healthMinMemlock: String?
    @Option(help: ArgumentHelp("With --health-check bandwidth, the floor of a node's median link: a percentage of the other links' median, or a rate (e.g. 2GB/s, 10Gbit/s).",
                               valueName: "N%|RATE"))
    var healthMinBandwidth = "50%"
    @Option(help: ArgumentHelp("With --nnodes MIN:MAX, a world below MAX grows back once a node has been back in the pool this long: the head asks the job for a checkpoint (BATON_CHECKPOINT_REQUEST, baton.should_checkpoint()) and restarts there.",
                               valueName: "DURATION"))
    var growAfter: String?
    @Option(help: "How long --grow-after waits for the checkpoint it asked for; none by then: no restart until the next one.")
    var growWait = "5m"

    var settings: PoolSettings {
        var s = PoolSettings()
        (s.nnodes, s.coolDown, s.healthCheck) = (nnodes, coolDown, healthCheck)
        (s.healthTimeout, s.healthMinFree, s.healthMinMemlock) = (healthTimeout, healthMinFree, healthMinMemlock)
        s.healthMinBandwidth = healthMinBandwidth
        (s.growAfter, s.growWait) = (growAfter, growWait)
        return s
    }
}
