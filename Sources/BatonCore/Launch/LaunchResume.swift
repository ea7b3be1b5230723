import BatonProtocol
import BatonSystem
import Foundation

/// A launch run directory as its readers see it (`--resume`, `runs`, `status`, `report`):
/// from its store (`RUN/launch.sqlite`) when it has one, else from the files a run made
/// before the store keeps (attempt records, events.jsonl, report.json). The command line it
/// was started with is `RUN/launch.json` in both.
public enum LaunchRunFiles {
    /// The launch's own command line (`baton launch` options and the command), as given.
    public static let settingsFile = "launch.json"

    public struct Settings: Codable, Sendable, Equatable {
        /// The arguments after `baton launch`, without `--detach` and `--resume`.
        public var arguments: [String]
        /// Where they were given (relative paths in them are relative to it).
        public var directory: String
        public var created: Double

        public init(arguments: [String], directory: String, created: Double) {
            self.arguments = arguments
            self.directory = directory
            self.created = created
        }
    }

    public static func settingsPath(_ runDir: String) -> String { "\(runDir)/\(settingsFile)" }

    /// Writes `launch.json` (temp + rename) unless the run already has one: a resumed run
    /// keeps the command line it was started with.
    public static func recordSettings(_ s: Settings, runDir: String) throws {
        let path = settingsPath(runDir)
        if FileManager.default.fileExists(atPath: path) { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try enc.encode(s).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func settings(_ runDir: String) -> Settings? {
        guard let data = FileManager.default.contents(atPath: settingsPath(runDir)) else { return nil }
        return try? JSONDecoder().decode(Settings.self, from: data)
    }

    static func recordPath(_ runDir: String, attempt: Int) -> String { "\(runDir)/attempts/attempt-\(attempt).record.json" }
    static func planPath(_ runDir: String, attempt: Int) -> String { "\(runDir)/attempts/attempt-\(attempt).plan.json" }
    /// What the head saw during the attempt (`AttemptTranscript`).
    static func transcriptPath(_ runDir: String, attempt: Int) -> String { "\(runDir)/attempts/attempt-\(attempt).transcript.jsonl" }

    /// Writes an attempt's record as a head before the store did (the runs the readers'
    /// fallback reads; the unit tests make them).
    static func recordAttempt(_ r: AttemptRecord, runDir: String) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try? enc.encode(r).write(to: URL(fileURLWithPath: recordPath(runDir, attempt: r.attempt)), options: .atomic)
    }

    /// The report as `baton launch` wrote it to report.json (and `launch report --json` prints it).
    public static func reportJSON(_ r: LaunchReport) -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? enc.encode(r)) ?? Data()
    }

    /// The attempt numbers of the run, ascending: the store's attempts, else those with a
    /// plan in `RUN/attempts`.
    public static func attemptNumbers(_ runDir: String) -> [Int] {
        if let store = LaunchStore.reading(runDir), let rows = try? store.attempts() { return rows.map(\.number) }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "\(runDir)/attempts")) ?? []
        return files.compactMap { f -> Int? in
            guard f.hasPrefix("attempt-"), f.hasSuffix(".plan.json") else { return nil }
            return Int(f.dropFirst("attempt-".count).dropLast(".plan.json".count))
        }.sorted()
    }

    public static func plan(_ runDir: String, attempt: Int) -> LaunchPlan? {
        if let store = LaunchStore.reading(runDir), let row = try? store.attempts().first(where: { $0.number == attempt }),
           let plan = row.plan { return plan }
        guard let data = FileManager.default.contents(atPath: planPath(runDir, attempt: attempt)) else { return nil }
        return try? JSONDecoder().decode(LaunchPlan.self, from: data)
    }

    public static func record(_ runDir: String, attempt: Int) -> AttemptRecord? {
        if let store = LaunchStore.reading(runDir), let rows = try? store.attempts() {
            return rows.first { $0.number == attempt }?.record
        }
        guard let data = FileManager.default.contents(atPath: recordPath(runDir, attempt: attempt)) else { return nil }
        return try? JSONDecoder().decode(AttemptRecord.self, from: data)
    }

    public static func report(_ runDir: String) -> LaunchReport? {
        if let store = LaunchStore.reading(runDir), let r = try? store.report() { return r }
        guard let data = FileManager.default.contents(atPath: "\(runDir)/report.json") else { return nil }
        return try? JSONDecoder().decode(LaunchReport.self, from: data)
    }

    /// Every event of `RUN/events.jsonl`, oldest first (a torn last line is skipped).
    public static func events(_ runDir: String) -> [[String: Any]] {
        if let store = LaunchStore.reading(runDir), let events = try? store.events() { return events }
        guard let text = try? String(contentsOfFile: "\(runDir)/events.jsonl", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The most samples any rank reported consumed, over every attempt's metrics files and
    /// the head's events (the store's, else events.jsonl). The files count even with a
    /// store: lines a rank wrote just before a killed head could commit them are there.
    public static func consumed(_ runDir: String) -> Int? {
        var best: Int?
        if let store = LaunchStore.reading(runDir), let c = try? store.consumed() { best = c }
        for a in attemptNumbers(runDir) {
            if let c = LaunchSupervisor.consumedInMetricsFiles(dir: "\(runDir)/metrics/attempt-\(a)") { best = max(best ?? c, c) }
        }
        for e in events(runDir) {
            if let c = (e["consumed"] as? NSNumber)?.intValue { best = max(best ?? c, c) }
        }
        return best
    }
}

/// Where `baton launch --resume RUN` picks a run up: after its last attempt, on that
/// attempt's nodes less those it lost, from the most samples consumed.
public struct LaunchResumePoint: Sendable, Equatable {
    /// The last attempt that started; the resumed head starts `lastAttempt + 1`.
    public var lastAttempt: Int
    /// Its nodes, less the ones it is known to have lost.
    public var hosts: HostList
    public var consumed: Int
    /// Every earlier attempt's record (one the killed head never finished: `head lost`).
    public var records: [AttemptRecord]
    /// Set when the run had completed: there is nothing to resume.
    public var completed: Bool

    /// Reads the run directory. Fails (bad input) when it holds no launch attempt.
    public static func read(runDir: String) throws(LaunchError) -> LaunchResumePoint {
        let numbers = LaunchRunFiles.attemptNumbers(runDir)
        guard let last = numbers.last, let plan = LaunchRunFiles.plan(runDir, attempt: last) else {
            throw LaunchError(.badInput, "\(runDir) holds no launch attempt (no attempts/attempt-N.plan.json): nothing to resume")
        }
        var records: [AttemptRecord] = []
        for n in numbers {
            if let r = LaunchRunFiles.record(runDir, attempt: n) {
                records.append(r)
            } else if let p = LaunchRunFiles.plan(runDir, attempt: n) {
                var r = AttemptRecord(attempt: n, nodes: p.hosts.map(\.name), worldSize: p.worldSize)
                r.masterPort = p.contract.masterPort
                r.outcome = .headLost
                r.detail = "the head ended before the attempt did"
                records.append(r)
            }
        }
        let lost = Set(records.last(where: { $0.attempt == last })?.lost.map(\.node) ?? [])
        let hosts = HostList(hosts: plan.hosts).removing(lost)
        let report = LaunchRunFiles.report(runDir)
        let completed = report?.result == .completed && report?.attempts.last?.attempt == last
        return LaunchResumePoint(lastAttempt: last, hosts: hosts, consumed: LaunchRunFiles.consumed(runDir) ?? 0,
                                 records: records, completed: completed)
    }

    /// Waits for every rank of the run's earlier attempts that this machine can see to be
    /// gone (their wrappers fence when the head's lease stops, or at once when their stdin
    /// closes with it), at most `within` seconds, then SIGKILLs what is left: the old mpirun,
    /// its daemons and agents, which hold nothing of the job once its ranks are gone and
    /// take their time to end on their own (7 to 10 s measured after a SIGKILLed head, with
    /// every wrapper fenced within 0.1 s). On real hosts (`remote`, nothing of the old attempt
    /// visible here) the remote ranks fence at most a lease period after the old head's last
    /// renewal, which is not known: wait one whole lease. Returns what was still there after
    /// the SIGKILLs, as sweep lines.
    public static func waitForOldAttempts(runDir: String, within: Double, lease: Double, remote: Bool) -> [String] {
        if remote && !anyVisible(runDir: runDir) { usleep(UInt32((lease + 0.5) * 1_000_000)) }
        Teardown.Target.processes { visible(runDir: runDir, ranksOnly: true) }.waitUntilGone(atMost: within)
        var left: [String] = []
        for a in LaunchRunFiles.attemptNumbers(runDir) {
            let sweep = AttemptSweep(token: "\(runDir)#\(a)", simulated: true)
            left += sweep.clear(excluding: [], within: 2).left
        }
        // Simulated nodes' TMPDIRs: the killed agents never removed them.
        LocalNodes.cleanAll(dir: (runDir as NSString).appendingPathComponent("local"))
        return left
    }

    /// Whether a process of an earlier attempt is visible here; `ranksOnly`: a rank (a
    /// wrapper or its command: Open MPI gives them OMPI_COMM_WORLD_RANK, which mpirun, its
    /// daemons and agents do not have).
    static func anyVisible(runDir: String, ranksOnly: Bool = false) -> Bool {
        !visible(runDir: runDir, ranksOnly: ranksOnly).isEmpty
    }

    static func visible(runDir: String, ranksOnly: Bool) -> [pid_t] {
        let prefix = "\(runDir)#"
        return ProcessTable.processes { env in
            (env[LaunchPlanner.attemptTokenVariable]?.hasPrefix(prefix) ?? false) && (!ranksOnly || env["OMPI_COMM_WORLD_RANK"] != nil)
        }
    }
}
