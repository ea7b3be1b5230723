import ArgumentParser
import BatonLaunch

extension HangPolicy: ExpressibleByArgument {}
extension StragglerPolicy: ExpressibleByArgument {}

/// The hang-detection options of `launch` (docs/launch.md, "Hangs and stragglers").
struct HangOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A rank that reports progress and makes none this long is hung: auto (learnt: 5 x p99 step time, at least 10s), a duration, or off.",
                               valueName: "auto|duration|off"))
    var hangTimeout = "auto"
    @Option(help: "Before a rank's 2nd step (rendezvous, loading, warm-up) it may take this long.") var startTimeout = "10m"
    @Option(help: "A marked phase (baton.phase(\"eval\")) not seen to end before may take this long.") var phaseTimeout = "30m"
    @Option(help: "After a hang (stacks saved): restart (same nodes; a 2nd hang on a node leaves it out), exclude (its node at once), or fail.")
    var onHang: HangPolicy = .restart
    @Option(help: "A rank busier than the others (score under 0.7 for 15 s): warn (an event), exclude (its node left out at the next checkpoint), or off.")
    var onStraggler: StragglerPolicy = .warn
    @Option(help: "An output line matching this regular expression is a step (no change to the trainer; the number in its first group, else the next).")
    var progressPattern: String?
    @Option(help: "A metrics line with this key (e.g. step) is a step.") var progressKey: String?

    var settings: HangSettings {
        var s = HangSettings()
        (s.hangTimeout, s.startTimeout, s.phaseTimeout, s.onHang, s.onStraggler) = (hangTimeout, startTimeout, phaseTimeout, onHang, onStraggler)
        (s.progressPattern, s.progressKey) = (progressPattern, progressKey)
        return s
    }
}
