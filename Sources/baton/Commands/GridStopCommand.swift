import ArgumentParser
import BatonGrid
import BatonRuns
import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct GridStopCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop a run: running attempts are stopped and resume on `--resume`.")

    @Argument(help: "The run directory.") var runDir: String

    func run() throws {
        switch try GridHead.stop(runDir: runDir) {
        case .head(let pid):
            say("stopped the head (pid \(pid)); continue with: baton grid --resume \(runDir)")
        case .orphans(let stopped):
            say("no head was running; stopped \(stopped) orphaned attempt(s); continue with: baton grid --resume \(runDir)")
        }
    }
}

struct GridKillNodeCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "kill-node",
        abstract: "Fault injection: kill (or hang) every process of a node's running attempt, where this machine can reach it (--local nodes, the namespace test bed).")

    @Argument(help: "The run directory.") var runDir: String
    @Argument(help: "The node, e.g. local-1.") var node: String
    @Option(help: "KILL (crash) or STOP (hang).") var signal: String = "KILL"
    @Option(name: .customLong("down-for"), help: "The node fails its health checks for this long.") var downFor: String = "60s"

    func run() throws {
        let store: GridStore
        do { store = try GridStore(runDir: runDir, readOnly: true) } catch { throw GridRunError("\(error)") }
        let snap = try store.snapshot(events: 0)
        guard snap.nodes.contains(where: { $0.name == node }) else {
            throw GridRunError("no node \(node) in this run (nodes: \(snap.nodes.map(\.name).joined(separator: ", ")))")
        }
        guard let down = parseDuration(downFor) else { throw GridRunError("--down-for \(downFor) is not a duration") }
        let sig: Int32 = signal.uppercased().hasSuffix("STOP") ? SIGSTOP : SIGKILL
        let local = (snap.meta["executor"] ?? "local") == "local"
        let absDir = absolutePath(runDir)
        say(try GridHead.killNode(runDir: absDir, node: node, signal: sig, downFor: down, local: local))
    }
}
