import ArgumentParser
import BatonCore
import BatonSupport
import Foundation

struct GridSimulateCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run the scheduler on simulated nodes with a durable run store and report its speed and memory.")

    @Option(help: "Configs in the grid.") var configs = 10_000
    @Option(help: "Simulated nodes.") var nodes = 1_000
    @Option(name: .customLong("node-failures"), help: "Fraction of nodes that fail at random times.") var nodeFailures = 0.05
    @Option(name: .customLong("config-failures"), help: "Fraction of attempts whose command fails.") var configFailures = 0.01
    @Option(help: "Simulated seconds per wall second (higher saturates the scheduler).") var speed = 1000.0
    @Option(name: .customLong("run-dir"), help: "Where the store goes (default: a temporary directory, removed after).") var runDir: String?
    @Flag(name: .customLong("no-fsync"), help: "synchronous=NORMAL: commits survive a killed head, not a power loss.") var noFsync = false
    @Option(help: "Random seed.") var seed: UInt64 = 42

    func run() throws {
        var s = GridSimulation.Settings()
        s.configs = configs
        s.nodes = nodes
        s.nodeFailureRate = nodeFailures
        s.configFailureRate = configFailures
        s.speed = speed
        s.durable = !noFsync
        s.seed = seed
        let dir = runDir ?? NSTemporaryDirectory() + "baton-grid-sim-\(getpid())"
        defer { if runDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
        say("simulating \(configs) configs on \(nodes) nodes, \(Int(nodeFailures * 100))% of nodes failing, store \(dir) (\(noFsync ? "synchronous=NORMAL" : "synchronous=FULL, fsync per commit"))")
        let report = try GridSimulation.run(s, runDir: dir)
        say(report.text)
        if !report.exactlyOnce { throw CommandFailure.checkFailed }
    }
}
