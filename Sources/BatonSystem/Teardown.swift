// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// How to stop something, as data: a sequence of steps, then SIGKILL, always appended, so a
/// teardown ends with its target gone whatever the target does with the steps (the shape of
/// swift-subprocess's `TeardownStep`). `run(against:)` is the one stop-and-kill of Baton: a
/// child's TERM-grace-KILL, a node killed as a machine dies, an orphaned attempt swept.
public struct Teardown: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Sends `signal` and goes on at once.
        case send(signal: Int32)
        /// SIGTERM (and SIGCONT, so a stopped process sees it), then up to
        /// `allowedDurationToNextStep` seconds for the target to end.
        case gracefulShutDown(allowedDurationToNextStep: Double)
        /// Up to `atMost` seconds for the target to end on its own.
        case wait(atMost: Double)
    }

    var steps: [Step]
    /// After the final SIGKILL, up to this many seconds for a set of processes to be gone
    /// (whatever still shows up meanwhile, a fork that raced the kill, is killed again). A
    /// child is always reaped: its own wait, which a SIGKILL ends.
    var afterKill: Double

    public init(_ steps: [Step] = [], afterKill: Double = 0) {
        self.steps = steps
        self.afterKill = afterKill
    }

    /// SIGKILL at once.
    static let kill = Teardown()

    /// The TERM-grace-KILL.
    static func gracefulShutDown(grace: Double, afterKill: Double = 0) -> Teardown {
        Teardown([.gracefulShutDown(allowedDurationToNextStep: grace)], afterKill: afterKill)
    }

    /// What a teardown did.
    public struct Result: Sendable, Equatable {
        /// A child's status (nil for the other targets).
        var status: ExitStatus?
        /// False when the target ended within the steps and was never sent SIGKILL.
        var killed: Bool
        /// The pids the final SIGKILL went to (a set of processes, a session, a group).
        public var killedPIDs: Set<pid_t>
        /// What was still there once `afterKill` had passed.
        public var left: [pid_t]
    }

    /// Runs the steps against `target`, stopping early once it has ended, then SIGKILL.
    /// Every wait is bounded (a child's end is learnt by its own wait, anything else by a
    /// poll of /proc every `target.pollInterval` seconds), except a SIGKILLed child's reaping.
    /// `listed`: a set target's processes as the caller has just listed them, taken for its
    /// first listing when there are no steps before the SIGKILL (saves a pass over /proc).
    @discardableResult
    public func run(against target: Target, listed given: [pid_t]? = nil) -> Result {
        var result = Result(status: nil, killed: false, killedPIDs: [], left: [])
        for step in steps {
            if target.hasEnded(&result) { return result }
            switch step {
            case .send(let signal):
                target.send(signal)
            case .gracefulShutDown(let grace):
                target.send(SIGTERM)
                target.send(SIGCONT)
                if target.waitUntilEnded(atMost: grace, &result) { return result }
            case .wait(let seconds):
                if target.waitUntilEnded(atMost: seconds, &result) { return result }
            }
        }
        // A set of processes is listed once here, and that listing is the first to be frozen.
        var listed: [pid_t] = []
        switch target {
        case .child: if target.hasEnded(&result) { return result }
        case .processGroup, .session, .processes:
            listed = steps.isEmpty ? given ?? target.pids() : target.pids()
            if listed.isEmpty { return result }
        }
        result.killed = true
        switch target {
        case .child(let child):
            child.signal(SIGKILL)
            result.status = child.wait()
        case .processGroup(let group):
            result.killedPIDs = Set(listed)
            Glibc.kill(-group, SIGKILL)
            result.left = target.pidsStillThere(afterKill: afterKill, killing: &result.killedPIDs)
        case .session, .processes:
            // As a machine dies: all at once. Killed one by one, a process that outlives
            // another by microseconds can see it die and say so (a `baton exec` wrapper
            // would report its rank killed by SIGKILL: a command failure, where a real
            // crash leaves nobody to report anything). So every process is first sent
            // SIGSTOP (pending, it lets a process finish at most the system call it is in;
            // listed again until no new one shows up, which catches a fork in between, at
            // most 20 rounds), and only then SIGKILL.
            var frozen = Set<pid_t>()
            for _ in 0..<20 {
                let fresh = listed.filter { !frozen.contains($0) }
                if fresh.isEmpty { break }
                for p in fresh where Glibc.kill(p, SIGSTOP) == 0 { frozen.insert(p) }
                listed = target.pids()
            }
            for p in frozen.union(listed) { Glibc.kill(p, SIGKILL) }
            result.killedPIDs = frozen
            result.left = target.pidsStillThere(afterKill: afterKill, killing: &result.killedPIDs)
        }
        return result
    }

    /// What a teardown stops.
    public enum Target {
        /// A child of this process: signals go to its group when it has one of its own;
        /// it has ended when its own wait says so.
        case child(ChildProcess)
        /// Every process of a process group (`kill(-group, ...)`).
        case processGroup(pid_t)
        /// Every live process of a session (a simulated node's).
        case session(pid_t)
        /// The live processes a closure finds, listed again before every signal and poll.
        case processes(() -> [pid_t])

        /// How often the bounded waits look: a child's `waitpid` is cheap, a scan of /proc is not.
        var pollInterval: Double {
            if case .child = self { return 0.01 }
            return 0.05
        }

        /// The target's live processes now (a child: itself until it is reaped).
        func pids() -> [pid_t] {
            switch self {
            case .child(let child): return child.poll() == nil ? [child.pid] : []
            case .processGroup(let group):
                return ProcessTable.allPIDs().filter { pid in
                    guard let s = ProcessTable.stat(pid) else { return false }
                    return s.group == group && s.isLive
                }
            case .session(let session): return ProcessTable.members(ofSession: session)
            case .processes(let find): return find()
            }
        }

        func send(_ signal: Int32) {
            switch self {
            case .child(let child): child.signal(signal)
            case .processGroup(let group): Glibc.kill(-group, signal)
            case .session, .processes: for p in pids() { Glibc.kill(p, signal) }
            }
        }

        func hasEnded(_ result: inout Teardown.Result) -> Bool {
            if case .child(let child) = self {
                result.status = child.poll()
                return result.status != nil
            }
            return pids().isEmpty
        }

        func waitUntilEnded(atMost seconds: Double, _ result: inout Teardown.Result) -> Bool {
            if case .child(let child) = self {
                result.status = child.wait(atMost: seconds)
                return result.status != nil
            }
            return waitUntilGone(atMost: seconds)
        }

        /// Waits up to `seconds` for the target to have no live process (a child: to end);
        /// true when it has none.
        @discardableResult
        public func waitUntilGone(atMost seconds: Double) -> Bool {
            if case .child(let child) = self { return child.wait(atMost: seconds) != nil }
            return pollUntil(atMost: seconds, every: pollInterval) { pids().isEmpty }
        }

        /// After the SIGKILL: up to `seconds` for the target to be gone, killing again what
        /// is still found; returns what is left (nothing looked for when `seconds` is 0).
        func pidsStillThere(afterKill seconds: Double, killing killed: inout Set<pid_t>) -> [pid_t] {
            // Zero: the caller does not look (a crash injected: what it leaves is the point).
            guard seconds > 0 else { return [] }
            let deadline = monotonicNow() + seconds
            // The killed ones by their own entries first (a stat each, where a listing may
            // read every process of the machine), then listings until none is found.
            let first = killed
            _ = pollUntil(atMost: seconds, every: 0.02) { !first.contains { ProcessTable.isAlive($0) } }
            var left: [pid_t] = []
            var all = killed
            // Looks at least once, however little time is left.
            _ = pollUntil(atMost: max(0, deadline - monotonicNow()), every: pollInterval) {
                left = pids()
                all.formUnion(left)
                for p in left { Glibc.kill(p, SIGKILL) }
                return left.isEmpty
            }
            killed = all
            return left
        }
    }
}

/// The one bounded poll: calls `done` until it returns true (then true) or `seconds` have
/// passed (then false), `every` seconds apart, on the monotonic clock. For conditions that
/// nothing signals (a process that is not our child, a file another process writes).
public func pollUntil(atMost seconds: Double, every interval: Double, _ done: () -> Bool) -> Bool {
    let deadline = monotonicNow() + seconds
    while true {
        if done() { return true }
        let now = monotonicNow()
        if now >= deadline { return false }
        usleep(UInt32(min(interval, deadline - now) * 1_000_000))
    }
}
