@testable import BatonLaunch
@testable import BatonRuns
@testable import BatonProtocol
@testable import BatonSystem
import Foundation
import Testing

/// An engine whose ranks start and then run until the head stops it.
struct RunningExecutor: JobExecutor {
    let started = Locked(0)
    func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        for r in plan.ranks {
            onLine(TaggedLine(kind: .start, node: r.node, rank: r.rank, payload: "pid=1").encoded, .stdout)
        }
        started.with { $0 += 1 }
        return FakeJob(status: nil)
    }
    func finished(_ plan: LaunchPlan) {}
}

/// An engine whose ranks start, then mpirun loses a daemon, says so and exits 1, all before
/// the head looks: what a node crash looks like to a head that was not scheduled meanwhile.
struct DaemonLostExecutor: JobExecutor {
    let lost: String
    func start(_ plan: LaunchPlan, onLine: @escaping @Sendable (String, OutputSource) -> Void) throws -> RunningJob {
        for r in plan.ranks {
            onLine(TaggedLine(kind: .start, node: r.node, rank: r.rank, payload: "pid=1").encoded, .stdout)
        }
        for line in ["ORTE has lost communication with a remote daemon.", "", "  HNP daemon   : [[12726,0],0] on node vm",
                     "  Remote daemon: [[12726,0],1] on node \(lost)", "", "therefore will terminate the job."] {
            onLine(line, .stderr)
        }
        return FakeJob(status: .exited(1))
    }
    func finished(_ plan: LaunchPlan) {}
}

@Suite struct AttemptRunnerTests {
    /// A run directory of its own (removed at the end of `body`) and options for one node
    /// `na` with `slots` ranks, short leases and a long heartbeat timeout.
    static func withRun<T>(slots: Int = 1, _ body: (_ dir: String, inout LaunchOptions) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "baton-runner-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let planner = LaunchPlanner(mode: .cluster, command: ["true"], runDir: dir, batonPath: "/usr/bin/baton",
                                    heartbeat: 0.1, lease: 0.2, grace: 0.3, masterPort: 29500)
        var options = LaunchOptions(hosts: HostList(hosts: [Host(name: "na", slots: slots)]), planner: planner)
        options.heartbeatTimeout = 30
        return try body(dir, &options)
    }

    @Test("Ctrl-C reaches the running attempt: SIGINT forwarded, the job stopped after the grace, the launch ends interrupted (130)")
    func interruptEndsTheLaunch() throws {
        try Self.withRun { dir, options in
            let executor = RunningExecutor()
            let supervisor = try LaunchSupervisor(options: options, executor: executor, console: SilentConsole())
            startThread("test-interrupt") {
                let deadline = monotonicNow() + 10
                while executor.started.get == 0 && monotonicNow() < deadline { usleep(1_000) }
                supervisor.interrupt()
            }
            let report = supervisor.run()
            #expect(report.result == .interrupted)
            #expect(report.exitCode == 130)
            #expect(report.attempts.map(\.outcome) == [.interrupted])
            let events = try String(contentsOfFile: "\(dir)/events.jsonl", encoding: .utf8)
            #expect(events.contains(#""event":"interrupt""#))
            // What the head saw is kept, and replays to the same end.
            let transcript = try AttemptTranscript.decode(String(contentsOfFile: "\(dir)/attempts/attempt-1.transcript.jsonl", encoding: .utf8))
            #expect(transcript.events.contains { $0.event == .interrupt })
        }
    }

    @Test("mpirun names its lost daemon and has ended by the head's next look: the node is lost, the attempt ends (the decision on its last lines is not dropped for its exit)")
    func daemonLostAndMpirunEndedInOneLook() throws {
        try Self.withRun(slots: 2) { _, options in
            options.maxRestarts = 0
            let supervisor = try LaunchSupervisor(options: options, executor: DaemonLostExecutor(lost: "na"), console: SilentConsole())
            // Bounded: the runner used to spin on mpirun's end forever here (the grid kept the
            // config running on a node it had killed).
            let report = Locked<LaunchReport?>(nil)
            let ended = DispatchSemaphore(value: 0)
            startThread("test-daemon-lost") {
                report.with { $0 = supervisor.run() }
                ended.signal()
            }
            try #require(ended.wait(timeout: .now() + 20) == .success, "the attempt never ended")
            let record = try #require(report.get?.attempts.last)
            #expect(record.outcome == .nodesLost)
            #expect(record.lost.map(\.node) == ["na"])
            #expect(record.lost.first?.signal == .daemonLost)
            #expect(record.mpirunStatus == .exited(1))
        }
    }
}
