import ArgumentParser
import BatonGrid
import BatonRuns

struct GridExplainCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "explain", abstract: "The early-stopping decisions about one config: rungs, values, cutoffs, why.")

    @Argument(help: "The run directory.") var runDir: String
    @Argument(help: "The config's id (or a prefix of at least 4 digits).") var id: String

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw GridRunError("\(error)") }
        say(try GridReport.explain(try store.snapshot(events: 0), progress: try store.progress(), config: id), terminator: "")
    }
}
