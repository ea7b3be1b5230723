import ArgumentParser
import BatonGrid
import BatonLaunch
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation

struct GridCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grid",
        abstract: "Run a hyperparameter grid, one config per node, handed off when a node fails.",
        discussion: """
            baton grid SPEC (--hostfile F | -H h1,h2 | --local N) [--run-dir D] [--heartbeat-timeout 10s] [--detach]
            baton grid --resume D          continue after the head was stopped or killed
            baton grid plan SPEC           show the configs in the order they run
            baton grid status D            configs, nodes, recent events (--watch for a live view)
            baton grid results D           sorted by the objective, best first (--json, --csv)
            baton grid explain D ID        the early-stopping decisions about one config
            baton grid stop D              stop the run; --resume continues it
            baton grid kill-node D NODE    fault injection on the local executor
            baton grid simulate            the scheduler at scale on simulated nodes
            See docs/grid.md.
            """,
        subcommands: [
            GridRunCommand.self, GridPlanCommand.self, GridStatusCommand.self, GridResultsCommand.self,
            GridExplainCommand.self, GridStopCommand.self, GridKillNodeCommand.self, GridSimulateCommand.self,
        ],
        defaultSubcommand: GridRunCommand.self)
}

/// Prints a line and flushes (the detached head logs to a file).
func say(_ text: String, terminator: String = "\n") {
    print(text, terminator: terminator)
    fflush(nil)
}

/// The grid's subcommands say "baton grid: ..." when they fail.
protocol GridSubcommand: ParsableCommand, MessagePrefixed {}

extension GridSubcommand {
    static var messagePrefix: String { "baton grid" }
}
