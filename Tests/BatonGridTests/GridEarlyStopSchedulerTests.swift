import Foundation
import Testing
@testable import BatonGrid
@testable import BatonRuns

/// The scheduler with an early-stopping rule, on simulated nodes whose trainers report a
/// known curve: config `i` reports `acc = values[i]` at every epoch, one epoch a second, and
/// resumes from its last reported epoch (a checkpoint every epoch).
@Suite("Grid scheduler with early stopping (simulated nodes)")
struct GridEarlyStopSchedulerTests {
    static let values = [0.5, 0.3, 0.7, 0.6, 0.9, 0.1, 0.8, 0.2, 0.4]
    static let epochs = 12

    /// What each config's checkpoint holds: its last reported epoch.
    final class Checkpoints: @unchecked Sendable {
        var epoch: [String: Int] = [:]
    }

    /// The rule's settings; `order: spec` unless asked, so the decisions below follow the
    /// configs' positions.
    static func options(_ rule: GridEarlyStop.Rule, order: GridEarlyStop.Order = .spec) -> GridSchedulerOptions {
        var o = GridSchedulerOptions()
        o.objective = GridObjective(metric: "acc", mode: .max)
        var e = GridEarlyStop(rule: rule)
        e.timeAttr = "epoch"
        e.grace = 1
        e.reductionFactor = 3
        e.maxT = 27
        e.minSamples = 2
        e.order = order
        o.earlyStop = e
        return o
    }

    static func model(_ checkpoints: Checkpoints) -> (AttemptLaunch) -> SimulatedGridExecutor.JobOutcome {
        { launch in
            let i = Int(GridJSON.parseObject(launch.paramsJSON).first { $0.0 == "i" }!.1.description)!
            let from = launch.resume ? checkpoints.epoch[launch.configID] ?? 0 : 0
            let reports = (from + 1...epochs).map { e in
                (after: Double(e - from), metrics: ["epoch": Double(e), "acc": values[i]])
            }
            return .init(duration: Double(epochs - from), metrics: ["epoch": Double(epochs), "acc": values[i]], reports: reports)
        }
    }

    /// (config position, rung, stop) of every decision in the store, in order.
    static func decisions(_ store: GridStore, _ configs: [GridConfig]) throws -> [String] {
        let position = Dictionary(uniqueKeysWithValues: configs.map { ($0.id, $0.position) })
        return try store.progress().compactMap { p in
            p.decision.map { "\(position[p.configID]!)@\(p.rung.map(String.init) ?? GridFormat.metric(p.milestone ?? 0)):\($0.rawValue)" }
        }
    }

    @Test("ASHA stops exactly the configs the rule says, at their rungs; the best runs to its end; the node goes to the next config at once")
    func ashaOneNode() throws {
        let h = try GridSchedulerTests.harness(configs: 9, nodes: 1, options: Self.options(.asha), model: Self.model(Checkpoints()))
        #expect(try h.scheduler.run() == .finished(done: 3, failed: 0))
        let snap = try h.store.snapshot()
        let status = snap.configs.map(\.status)
        #expect(status == [.done, .stopped, .done, .stopped, .done, .stopped, .stopped, .stopped, .stopped])
        // The rung each stopped config was stopped at (EarlyStopPolicyTests works the same curves by hand).
        let stoppedAt = snap.configs.filter { $0.status == .stopped }.map { $0.decisions.last!.rung! }
        #expect(stoppedAt == [0, 0, 0, 1, 0, 0])
        let six = snap.configs[6].decisions.last!
        #expect(six.decision == .stop && six.value == 0.8 && six.cutoff == 0.9 && six.milestone == 3)
        #expect(snap.configs[6].attemptRecords.last!.status == .stopped)
        #expect(snap.configs[6].attemptRecords.last!.reason?.hasPrefix("stopped at rung 1 (epoch 3)") == true)
        // The best config (0.9) was promoted at every rung and ran all its epochs.
        #expect(snap.configs[4].decisions.map(\.rung) == [0, 1, 2])
        #expect(snap.configs[4].metrics["epoch"] == Double(Self.epochs))
        // Each stopped attempt was terminated, and the next config started on the node the
        // moment of the decision (virtual time: the same step).
        let attempts = snap.configs.flatMap(\.attemptRecords).sorted { $0.id < $1.id }
        for (a, next) in zip(attempts, attempts.dropFirst()) where a.status == .stopped {
            #expect(h.executor.terminated.contains(a.id))
            #expect(next.startedAt == a.endedAt)
        }
        // Node-seconds: 3 full configs (12 s), five stopped at epoch 1, one at epoch 3.
        let busy = attempts.reduce(0.0) { $0 + ($1.endedAt! - $1.startedAt) }
        #expect(busy == 3 * 12 + 5 * 1 + 3)
    }

    @Test("results, status and explain show each config's rung, its decision and why")
    func views() throws {
        let spec = """
            command: [t, "{i}"]
            parameters: {i: {range: [0, 9]}}
            objective: {metric: acc, mode: max}
            scheduler: {type: asha, time_attr: epoch, grace: 1, reduction_factor: 3, max_t: 27}
            """
        let h = try GridSchedulerTests.harness(
            configs: 9, nodes: 1, options: Self.options(.asha), specText: spec, model: Self.model(Checkpoints()))
        _ = try h.scheduler.run()
        let snap = try h.store.snapshot()
        let rows = GridReport.results(snap)
        #expect(rows.map(\.status) == [.done, .done, .done, .stopped, .stopped, .stopped, .stopped, .stopped, .stopped])
        let table = GridReport.table(rows, objective: GridReport.objective(snap.meta))
        let six = h.configs[6].id
        #expect(table.split(separator: "\n").contains { $0.contains(six) && $0.contains("rung 1 (epoch 3)") && $0.contains("stopped (cutoff 0.9)") })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(GridReport.json(rows).utf8)) as? [[String: Any]])
        let row = try #require(json.first { $0["id"] as? String == six })
        #expect(row["status"] as? String == "stopped" && row["rung"] as? Int == 1 && row["decision"] as? String == "stop")
        #expect(row["cutoff"] as? Double == 0.9 && (row["reason"] as? String)?.hasPrefix("stopped at rung 1 (epoch 3)") == true)
        #expect(GridReport.csv(rows).hasPrefix("id,status,attempts,resumed,handed_off,nodes,rung,decision,i,"))
        let explain = try GridReport.explain(snap, progress: try h.store.progress(), config: six)
        #expect(explain.contains("status stopped, 1 attempt, scheduler asha (time_attr epoch"))
        #expect(explain.contains("epoch 1: promoted at rung 0 (epoch 1) to rung 1: acc 0.8 vs cutoff 0.8, the top 2 of 7 there"))
        #expect(explain.contains("epoch 3: stopped at rung 1 (epoch 3): acc 0.8 vs cutoff 0.9, the top 1 of 4 there"))
        #expect(explain.contains("reports with no decision (1; epoch: acc, the last 1): 2: 0.8"))
        #expect(throws: GridRunError.self) { try GridReport.explain(snap, progress: [], config: "nope") }
        let status = GridReport.status(snap, runDir: h.runDir, headPID: nil, now: 100)
        #expect(status.contains("configs: 3 done, 0 running, 0 pending, 0 failed, 6 stopped early (of 9)"))
    }

    @Test("the median rule stops a config whose best is below the median of the others' running averages")
    func medianOneNode() throws {
        let h = try GridSchedulerTests.harness(configs: 9, nodes: 1, options: Self.options(.median), model: Self.model(Checkpoints()))
        _ = try h.scheduler.run()
        let snap = try h.store.snapshot()
        // 0 and 1 have too few others (min_samples 2). 2 (0.7) is above the median 0.4 of
        // 0.5 and 0.3; 3 (0.6) above 0.5; 4 (0.9) above; 5 (0.1) below the median 0.6 of the
        // five before it at epoch 1; 6 (0.8) above; 7 (0.2) below 0.6; 8 (0.4) below the
        // median 0.55 of 0.5, 0.3, 0.7, 0.6, 0.9, 0.1, 0.8, 0.2.
        #expect(snap.configs.map(\.status) == [.done, .done, .done, .done, .done, .stopped, .done, .stopped, .stopped])
        let five = snap.configs[5].decisions.last!
        #expect(five.milestone == 1 && five.cutoff == 0.6 && five.peers == 5)
        let eight = snap.configs[8].decisions.last!
        #expect(eight.decision == .stop && abs(eight.cutoff! - 0.55) < 1e-12 && eight.peers == 8)
    }

    @Test("a head killed mid-run and resumed reaches the same decisions as an uninterrupted run; no report is taken twice",
          arguments: GridEarlyStop.Order.allCases)
    func resumeKeepsDecisions(order: GridEarlyStop.Order) throws {
        let whole = try GridSchedulerTests.harness(configs: 9, nodes: 1, options: Self.options(.asha, order: order), model: Self.model(Checkpoints()))
        let outcome = try whole.scheduler.run()
        let expected = try Self.decisions(whole.store, whole.configs)
        // Four moments spread over the run (mid-epoch, so mid-rung for some).
        let end = whole.executor.now()
        #expect(end > 10)

        for crashAt in [0.1, 0.45, 0.65, 0.9].map({ ($0 * end).rounded(.down) + 0.5 }) {
            let checkpoints = Checkpoints()
            let h = try GridSchedulerTests.harness(configs: 9, nodes: 1, options: Self.options(.asha, order: order), model: Self.model(checkpoints))
            h.scheduler.crashAt = crashAt
            #expect(throws: GridScheduler.SimulatedHeadCrash.self) { try h.scheduler.run() }
            let partial = try Self.decisions(h.store, h.configs)
            #expect(!partial.isEmpty && partial.count < expected.count && Array(expected.prefix(partial.count)) == partial)
            let store = try GridStore(runDir: h.runDir, durable: false)
            let executor = SimulatedGridExecutor(nodes: 1, model: Self.model(checkpoints))
            let r = try GridRun.prepareResume(store: store, executor: executor, newConfigs: nil)
            // A checkpoint every epoch: the resumed attempt starts after the last one taken.
            for p in r.progress { checkpoints.epoch[p.configID] = Int(p.time) }
            let scheduler = GridScheduler(
                executor: executor, store: store, options: Self.options(.asha, order: order), configs: r.configs, resumeFirst: r.resumeFirst,
                nodeStates: r.nodeStates, nextAttemptID: r.nextAttemptID, progress: r.progress)
            #expect(try scheduler.run() == outcome)
            #expect(try Self.decisions(store, h.configs) == expected, "crash at \(crashAt)")
            // Every epoch of every config is in the store once: the resumed attempt continued
            // from its checkpoint, and nothing it repeated was taken again.
            let progress = try store.progress()
            let pairs = progress.map { "\($0.configID)/\($0.time)" }
            #expect(Set(pairs).count == pairs.count, "crash at \(crashAt)")
            #expect(try store.tally().violations == 0)
        }
    }

    @Test("order shuffled (the default): configs start in a permutation fixed by their ids, the same after --resume")
    func shuffledOrder() throws {
        var rule = GridEarlyStop(rule: .asha)
        #expect(rule.dispatchOrder == .shuffled)
        rule.order = .spec
        #expect(rule.dispatchOrder == .spec)
        let h = try GridSchedulerTests.harness(
            configs: 9, nodes: 1, options: Self.options(.asha, order: .shuffled), model: Self.model(Checkpoints()))
        _ = try h.scheduler.run()
        let firstAttempt = try h.store.snapshot().configs.flatMap(\.attemptRecords).sorted { $0.id < $1.id }.map(\.configID)
        let expected = h.configs.map(\.id).sorted { GridHash.hash("order/" + $0) < GridHash.hash("order/" + $1) }
        #expect(firstAttempt == expected)
        #expect(expected != h.configs.map(\.id), "the permutation is not the spec's order")
        // The same ids in another order give the same permutation.
        let ids = h.configs.map(\.id)
        let forward = GridScheduler.shuffled(Array(ids.indices), ids: ids).map { ids[$0] }
        let reversedIDs = Array(ids.reversed())
        let backward = GridScheduler.shuffled(Array(reversedIDs.indices), ids: reversedIDs).map { reversedIDs[$0] }
        #expect(forward == backward && forward == expected)
    }

    @Test("a node lost mid-rung: the config resumes on a survivor and its rung history continues")
    func nodeLossKeepsRungs() throws {
        let checkpoints = Checkpoints()
        let model = Self.model(checkpoints)
        let failures = [SimulatedGridExecutor.NodeFailure(node: 0, at: 5.5, fault: .crash)]
        let h = try GridSchedulerTests.harness(configs: 3, nodes: 2, failures: failures, options: Self.options(.asha), model: model)
        // Config 0 starts on sim0 at 0 and has reported epoch 5 when the node crashes at 5.5;
        // config 1 (0.3) stops at rung 0 at 1 s, so config 2 holds sim1 until 13 s; then 0
        // resumes there from its epoch-5 checkpoint.
        checkpoints.epoch[h.configs[0].id] = 5
        _ = try h.scheduler.run()
        let snap = try h.store.snapshot()
        let moved = try #require(snap.configs.first { $0.attempts == 2 })
        #expect(moved.id == h.configs[0].id)
        #expect(moved.attemptRecords.map(\.status) == [.lost, .stopped])
        #expect(moved.attemptRecords[1].nodes == ["sim1"] && moved.attemptRecords[1].startedAt == 13)
        let times = try h.store.progress(config: moved.id).map(\.time)
        #expect(times == times.sorted() && Set(times).count == times.count)
        #expect(times == (1...12).map(Double.init).prefix(9).map { $0 })
        // Rungs 0 and 1 on the lost node, rung 2 (epoch 9) on the survivor: 0.5 against 2's
        // 0.7 there, so it stops.
        #expect(moved.decisions.map(\.rung) == [0, 1, 2])
        #expect(moved.decisions.map(\.decision) == [.continue, .continue, .stop])
        #expect(Set(try h.store.progress(config: moved.id).map(\.attemptID)).count == 2)
    }
}
