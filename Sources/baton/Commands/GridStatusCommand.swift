import ArgumentParser
import BatonCore
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct GridStatusCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Configs pending/running/done/failed, nodes, recent events.")

    @Argument(help: "The run directory.") var runDir: String
    @Flag(help: "Refresh every second until the run ends (Ctrl-C to leave).") var watch = false
    @Flag(help: "JSON: counts, nodes (state, config, attempt, session), recent events.") var json = false

    func run() throws {
        while true {
            let store: GridStore
            do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw GridRunError("\(error)") }
            let snap = try store.snapshot(events: 10)
            let head = GridHead.alivePID(runDir: runDir, meta: snap.meta)
            if json {
                say(GridReport.statusJSON(snap, runDir: runDir, headPID: head, now: Date().timeIntervalSince1970))
                return
            }
            let text = GridReport.status(snap, runDir: runDir, headPID: head, now: Date().timeIntervalSince1970)
            if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            say(text, terminator: "")
            if !watch || head == nil { return }
            usleep(1_000_000)
        }
    }
}

struct GridResultsCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "Every config's outcome, sorted by the objective, best first.")

    @Argument(help: "The run directory.") var runDir: String
    @Flag(help: "JSON: id, params, status, attempts, nodes, resumed, handed_off, metrics.") var json = false
    @Flag(help: "CSV with a column per parameter and metric.") var csv = false

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw GridRunError("\(error)") }
        let snap = try store.snapshot(events: 0)
        let rows = GridReport.results(snap)
        if json { say(GridReport.json(rows)); return }
        if csv { say(GridReport.csv(rows), terminator: ""); return }
        say(GridReport.table(rows, objective: GridReport.objective(snap.meta)), terminator: "")
        for r in rows where r.status == .failed {
            say("\nfailed \(r.id) (\(r.params.map { "\($0.0)=\($0.1)" }.joined(separator: " "))), last output:")
            say((r.lastOutput ?? "").split(separator: "\n").map { "  | \($0)" }.joined(separator: "\n"))
        }
    }
}
