import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation

/// A launch run directory as its readers see it (`--resume`, `runs`, `status`, `report`):
/// its store (`RUN/launch.sqlite`) alone; a run made before the store is converted into one
/// when first read (`LaunchStoreImport`). The spec it was started with is `RUN/launch.json`.
public enum LaunchRunFiles {
    /// The launch's spec (`LaunchSpec`), where it was given and when.
    public static let settingsFile = RunDirectory.Relative.settings

    public struct Settings: Codable, Sendable, Equatable {
        public var spec: LaunchSpec
        /// Where the launch was given (relative paths in the spec and the command are relative to it).
        var directory: String
        public var created: Double
        /// The command line `launch.json` held instead of a spec (a run of an older Baton),
        /// converted into `spec` when read; nil for a spec.
        var legacyArguments: [String]?

        init(spec: LaunchSpec, directory: String, created: Double) {
            self.spec = spec
            self.directory = directory
            self.created = created
        }

        enum CodingKeys: String, CodingKey { case spec, directory, created, arguments }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            directory = try c.decode(String.self, forKey: .directory)
            created = try c.decode(Double.self, forKey: .created)
            if let spec = try c.decodeIfPresent(LaunchSpec.self, forKey: .spec) {
                self.spec = spec
            } else {
                let arguments = try c.decode([String].self, forKey: .arguments)
                legacyArguments = arguments
                spec = try LaunchSpec(legacyArguments: arguments)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(spec, forKey: .spec)
            try c.encode(directory, forKey: .directory)
            try c.encode(created, forKey: .created)
        }
    }

    static func settingsPath(_ runDir: String) -> String { RunDirectory(runDir).settings }

    /// Writes `launch.json` (temp + rename) unless the run already has one: a resumed run
    /// keeps the spec it was started with. `replacing` writes over it (an older Baton's
    /// command line, converted).
    static func recordSettings(_ s: Settings, runDir: String, replacing: Bool = false) throws {
        let path = settingsPath(runDir)
        if !replacing && FileManager.default.fileExists(atPath: path) { return }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try enc.encode(s).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func settings(_ runDir: String) -> Settings? {
        try? readSettings(runDir)
    }

    /// `launch.json`, nil when there is none; an error says why one cannot be used.
    static func readSettings(_ runDir: String) throws(LaunchError) -> Settings? {
        guard let data = FileManager.default.contents(atPath: settingsPath(runDir)) else { return nil }
        do { return try JSONDecoder().decode(Settings.self, from: data) } catch let e as LaunchError {
            throw LaunchError(.badInput, "\(settingsPath(runDir)): \(e.message)")
        } catch {
            throw LaunchError(.badInput, "\(settingsPath(runDir)): cannot be read: \(error)")
        }
    }

    static func recordPath(_ runDir: String, attempt: Int) -> String { RunDirectory(runDir).attemptRecord(attempt) }
    static func planPath(_ runDir: String, attempt: Int) -> String { RunDirectory(runDir).attemptPlan(attempt) }
    /// What the head saw during the attempt (`AttemptTranscript`).
    static func transcriptPath(_ runDir: String, attempt: Int) -> String { RunDirectory(runDir).attemptTranscript(attempt) }

    /// Where attempt N's straggler scores are (`baton status` of a running launch).
    public static func scoresPath(_ runDir: String, attempt: Int) -> String { RunDirectory(runDir).attemptScores(attempt) }

    /// Writes an attempt's record as a head before the store did (the runs
    /// `LaunchStoreImport` converts; the unit tests make them).
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

    /// The attempt numbers of the run, ascending.
    public static func attemptNumbers(_ runDir: String) -> [Int] {
        ((try? LaunchStore.reading(runDir)?.attempts()) ?? []).map(\.number)
    }

    public static func plan(_ runDir: String, attempt: Int) -> LaunchPlan? {
        ((try? LaunchStore.reading(runDir)?.attempts()) ?? []).first { $0.number == attempt }?.plan
    }

    public static func record(_ runDir: String, attempt: Int) -> AttemptRecord? {
        ((try? LaunchStore.reading(runDir)?.attempts()) ?? []).first { $0.number == attempt }?.record
    }

    public static func report(_ runDir: String) -> LaunchReport? {
        (try? LaunchStore.reading(runDir)?.report()) ?? nil
    }

    /// The report of a run whose head has ended it (`baton launch report`), from its store
    /// (a run made before the store is converted first).
    public static func endedReport(_ dir: String) throws(LaunchError) -> LaunchReport {
        func bad(_ text: String) -> LaunchError { LaunchError(.badInput, text) }
        guard RunDirectory(dir).kind == .launch else {
            throw bad("\(dir) is not a launch run directory (no \(LaunchStore.fileName) or report.json)")
        }
        guard let report = Self.report(dir) else { throw bad("\(dir) has no report yet: its head has not ended it (baton status \(dir))") }
        return report
    }

    /// Every event of the run, oldest first.
    public static func events(_ runDir: String) -> [[String: Any]] {
        (try? LaunchStore.reading(runDir)?.events()) ?? []
    }

    /// The most samples any rank reported consumed: the store's (metrics lines, events, the
    /// report), and every attempt's metrics files. The files count on purpose, not as a
    /// fallback: lines a rank wrote just before a killed head could commit them are there.
    public static func consumed(_ runDir: String) -> Int? {
        var best = (try? LaunchStore.reading(runDir)?.consumed()) ?? nil
        for a in attemptNumbers(runDir) {
            if let c = LaunchSupervisor.consumedInMetricsFiles(dir: RunDirectory(runDir).metrics(a)) { best = max(best ?? c, c) }
        }
        return best
    }
}

/// Where `baton launch --resume RUN` picks a run up: after its last attempt, on that
/// attempt's nodes less those it lost, from the most samples consumed.
public struct LaunchResumePoint: Sendable, Equatable {
    /// The last attempt that started; the resumed head starts `lastAttempt + 1`.
    var lastAttempt: Int
    /// Its nodes, less the ones it is known to have lost.
    public var hosts: HostList
    var consumed: Int
    /// Every earlier attempt's record (one the killed head never finished: `head lost`).
    public var records: [AttemptRecord]
    /// Set when the run had completed: there is nothing to resume.
    public var completed: Bool
    /// The last attempt's nodes in rank order, lost ones included (a pool with spares keeps
    /// their places: `HostPool.resume`).
    var lastNodes: [String] = []
    /// The run store's nodes: what the pool was when the earlier head stopped.
    var nodeRows: [LaunchNodeRow] = []

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
                                 records: records, completed: completed, lastNodes: plan.hosts.map(\.name),
                                 nodeRows: (try? LaunchStore.reading(runDir)?.nodes()) ?? [])
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
    static func waitForOldAttempts(runDir: String, within: Double, lease: Double, remote: Bool) -> [String] {
        if remote && !anyVisible(runDir: runDir) { usleep(UInt32((lease + 0.5) * 1_000_000)) }
        Teardown.Target.processes { visible(runDir: runDir, ranksOnly: true) }.waitUntilGone(atMost: within)
        var left: [String] = []
        for a in LaunchRunFiles.attemptNumbers(runDir) {
            let sweep = AttemptSweep(token: "\(runDir)#\(a)", simulated: true)
            left += sweep.clear(excluding: [], within: 2).left
        }
        // Simulated nodes' TMPDIRs: the killed agents never removed them.
        LocalNodes.cleanAll(dir: RunDirectory(runDir).local)
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
