import BatonRuns
import BatonTrainer
import Foundation

/// A whole grid run on simulated nodes with a real, durable run store: the scale benchmark
/// (`baton grid simulate`, scripts/bench-grid) and a way to try scheduler settings.
public enum GridSimulation {
    public struct Settings: Sendable {
        public var configs = 10_000
        public var nodes = 1_000
        /// Fraction of nodes that fail at a random time (half crash, half go silent).
        public var nodeFailureRate = 0.05
        /// Fraction of attempts whose command fails (retried on another node).
        public var configFailureRate = 0.01
        /// Config durations are uniform in this range (virtual seconds).
        var minDuration = 30.0
        var maxDuration = 90.0
        /// Virtual seconds per wall second while the scheduler works (see SimulatedGridExecutor).
        public var speed = 1000.0
        var heartbeatInterval = 5.0
        var heartbeatTimeout = 30.0
        var coolDown = 120.0
        public var durable = true
        public var seed: UInt64 = 42
        public init() {}
    }

    public struct Report: Sendable {
        var outcome: GridOutcome
        var configs: Int
        var dispatches: Int
        var commits: Int
        /// Of `wallSeconds`, the time spent committing to the store (SQLite and fsync).
        var commitSeconds: Double
        var wallSeconds: Double
        /// CPU seconds (user + system) the process spent during `wallSeconds`: on a machine
        /// shared with other work the wall time also counts waiting for a core.
        var cpuSeconds: Double
        var virtualSeconds: Double
        var peakRSSBytes: Int
        var lostNodes: Int
        var handOffs: Int
        var retries: Int
        public var exactlyOnce: Bool

        var dispatchesPerSecond: Double { Double(dispatches) / wallSeconds }
        var microsecondsPerDispatch: Double { wallSeconds / Double(dispatches) * 1e6 }

        public var text: String {
            """
            configs \(configs), dispatches (attempts started) \(dispatches), store commits \(commits) (\(String(format: "%.1f", Double(dispatches) / Double(max(commits, 1)))) dispatches per commit)
            node losses \(lostNodes), hand-offs \(handOffs), config retries \(retries), outcome \(outcome)
            every config done exactly once: \(exactlyOnce ? "yes" : "NO")
            wall time \(String(format: "%.2f", wallSeconds)) s for \(String(format: "%.0f", virtualSeconds)) simulated s, of which \(String(format: "%.2f", commitSeconds)) s committing to the store
            CPU time \(String(format: "%.2f", cpuSeconds)) s (user + system; wall minus CPU is mostly waiting for a core or the disk)
            dispatches per second (every transition committed): \(String(format: "%.0f", dispatchesPerSecond))
            scheduler wall time per dispatch: \(String(format: "%.1f", microsecondsPerDispatch)) µs
            peak memory (max RSS): \(String(format: "%.1f", Double(peakRSSBytes) / 1_048_576)) MiB
            """
        }
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// A seeded generator so runs can be repeated.
    typealias Random = SplitMix64

    public static func run(_ s: Settings, runDir: String) throws -> Report {
        var rng = Random(seed: s.seed)
        let side = Int(Double(s.configs).squareRoot().rounded(.up))
        let spec = try GridSpec.parse(
            """
            command: [train, --a, "{a}", --b, "{b}"]
            parameters:
              a: {range: [0, \(side)]}
              b: {range: [0, \(side)]}
            objective: {metric: score, mode: max}
            max_retries: 3
            """, file: "simulated.yaml")
        let configs = Array(try GridExpansion.expand(spec).prefix(s.configs))

        let failing = Array((0..<s.nodes).map { ($0, rng.next()) }.sorted { $0.1 < $1.1 }.prefix(Int(Double(s.nodes) * s.nodeFailureRate)))
        let meanWaves = Double(s.configs) / Double(s.nodes) * (s.minDuration + s.maxDuration) / 2
        var failures: [SimulatedGridExecutor.NodeFailure] = []
        for (i, f) in failing.enumerated() {
            failures.append(
                .init(node: f.0, at: rng.unit() * meanWaves * 0.9, fault: i % 2 == 0 ? .crash : .silent,
                    downFor: i % 4 < 2 ? s.coolDown / 2 : nil))
        }
        let seedBase = rng.next()
        let executor = SimulatedGridExecutor(nodes: s.nodes, speed: s.speed, heartbeatInterval: s.heartbeatInterval, failures: failures)
        { launch in
            // Deterministic per attempt: a hash of the attempt id and the seed.
            var r = Random(seed: seedBase ^ UInt64(launch.attemptID) &* 0x2545_F491_4F6C_DD1D)
            let d = s.minDuration + r.unit() * (s.maxDuration - s.minDuration)
            let fail = r.unit() < s.configFailureRate
            return .init(duration: d, exitCode: fail ? 1 : 0, metrics: ["score": r.unit(), "step": 100])
        }
        let settings = GridRun.Settings(
            specPath: "simulated.yaml", specText: "", nodeNames: executor.nodeNames, hostSource: "simulated \(s.nodes) nodes",
            executor: "simulated", heartbeatTimeout: s.heartbeatTimeout, coolDown: s.coolDown)
        executor.recordsLaunches = false
        let store = try GridRun.create(runDir: runDir, settings: settings, configs: configs, durable: s.durable)
        var options = GridRun.options(spec: spec, settings: settings, runDir: nil)
        options.summaryInterval = .infinity
        // The configs as the store now holds them (all pending), built from the expansion
        // instead of read back: reading and parsing 100,000 rows doubled the peak memory.
        let scheduler = GridScheduler(
            executor: executor, store: store, options: options, configs: configs.map(GridConfigRecord.init(pending:)))
        executor.restartClock()
        let commitsBefore = store.commits
        let commitSecondsBefore = store.commitSeconds
        let cpu0 = processCPUSeconds()
        let t0 = SimulatedGridExecutor.wall()
        let v0 = executor.now()
        let outcome = try scheduler.run()
        let wall = SimulatedGridExecutor.wall() - t0
        let cpu = processCPUSeconds() - cpu0
        let virtual = executor.now() - v0

        let tally = try store.tally()
        let exactlyOnce = tally.violations == 0 && tally.runningAttempts == 0 && tally.configs == configs.count
            && tally.done + tally.failed == configs.count
        let lostNodes = try store.snapshotNodes().reduce(0) { $0 + $1.losses }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Report(
            outcome: outcome, configs: configs.count, dispatches: scheduler.dispatches, commits: store.commits - commitsBefore,
            commitSeconds: store.commitSeconds - commitSecondsBefore,
            wallSeconds: wall, cpuSeconds: cpu, virtualSeconds: virtual, peakRSSBytes: usage.ru_maxrss * 1024,
            lostNodes: lostNodes, handOffs: tally.lostAttempts, retries: tally.failedAttempts,
            exactlyOnce: exactlyOnce)
    }
}
