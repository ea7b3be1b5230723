import Foundation

/// Everything an executor needs to start one attempt of one config.
public struct AttemptLaunch: Sendable {
    /// Unique over the run (the attempts table's row id).
    var attemptID: Int64
    var configID: String
    /// 1-based attempt number of this config.
    var attempt: Int
    var argv: [String]
    /// Node indices (into the executor's node list) the attempt runs on.
    var nodes: [Int]
    var ranksPerNode: Int
    /// The grid's extension of the environment contract (`JobContract` builds it): the
    /// config's parameters (BATON_CONFIG), BATON_RESUME, and below the checkpoint
    /// directory stable across attempts and the attempt's metrics file.
    var paramsJSON: String
    var resume: Bool
    var checkpointDir: String?
    /// Where the attempt's output goes (nil: discarded, as in simulation).
    var logPath: String?
    var metricsPath: String?
    /// Seconds the attempt may run (the spec's `timeout`); the scheduler enforces it.
    var timeout: Double?
}

/// How an attempt ended, as the executor saw it.
struct AttemptExit: Sendable {
    /// Exit code when the command exited; nil when a signal ended it.
    var code: Int32?
    var signal: Int32?
    /// Last value of every metric the command appended to `$BATON_METRICS`.
    var metrics: [String: Double]
    /// The last lines of the attempt's output, for a failed config's record.
    var lastLines: [String]

    init(code: Int32?, signal: Int32? = nil, metrics: [String: Double] = [:], lastLines: [String] = []) {
        self.code = code
        self.signal = signal
        self.metrics = metrics
        self.lastLines = lastLines
    }

    var succeeded: Bool { code == 0 }
    var text: String {
        if let code { return "exit code \(code)" }
        if let signal { return "killed by signal \(signal)" }
        return "ended"
    }
}

/// What executors report back to the scheduler.
enum ExecutorEvent: Sendable {
    /// The attempt's processes are up; `pid`/`session` identify them (for status and for
    /// finding orphans after the head was killed).
    case started(attemptID: Int64, pid: Int32, session: Int32)
    /// The attempt's ranks on `node` are alive.
    case heartbeat(attemptID: Int64, node: Int)
    /// The attempt ended by itself (not because the scheduler terminated it).
    case exited(attemptID: Int64, AttemptExit)
    /// The executor itself knows `node` is gone (its processes were killed, or mpirun
    /// reported its daemon lost). `fenced` means nothing of the attempt can still be
    /// running there, so the work can move at once without waiting out the lease.
    case nodeLost(attemptID: Int64, node: Int, reason: String, fenced: Bool)
    /// A line the attempt's command wrote to `$BATON_METRICS` (rank 0's, forwarded by its
    /// wrapper while the attempt runs): its numeric fields. Reported before the attempt's end.
    case metrics(attemptID: Int64, [String: Double])
}

/// Starts configs' attempts on nodes and reports what happens to them. The scheduler calls
/// it from one thread; implementations need not be thread-safe.
///
/// Implementations: `MpirunGridExecutor` (every attempt an mpirun job under `baton exec`,
/// on real hosts, the test bed, Slurm or `--local` simulated nodes alike) and
/// `SimulatedGridExecutor` (in-process, fake jobs, for scale tests of the scheduler).
protocol ConfigExecutor: AnyObject {
    /// Node names, indexed as the scheduler indexes them.
    var nodeNames: [String] { get }
    /// The executor's clock, seconds (wall clock for real executors, virtual in simulation).
    func now() -> Double
    /// Starts an attempt; it must not block on the attempt.
    func start(_ launch: AttemptLaunch) throws
    /// Stops an attempt and everything it started (SIGTERM, grace, SIGKILL). After it
    /// returns, no event of this attempt is reported again.
    func terminate(attemptID: Int64, reason: String)
    /// Waits until there are events or the clock reaches `deadline`, then returns every
    /// event that is due.
    func poll(until deadline: Double) -> [ExecutorEvent]
    /// Whether a dead node may be used again (the health gate after its cool-down): nil when
    /// it passed, else why; and the check's wall time.
    func healthCheck(node: Int) -> (problem: String?, seconds: Double)
    /// After the head itself was killed: stops whatever is left of an attempt a previous
    /// head started, and returns its exit if it had finished and recorded one.
    func reapOrphan(attemptID: Int64, configID: String, attempt: Int, pid: Int32?, session: Int32?) -> AttemptExit?
}
