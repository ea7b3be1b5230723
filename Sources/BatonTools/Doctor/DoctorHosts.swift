import BatonSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `baton doctor --hosts`: the same checks on every host, one `baton doctor --json` per
/// node started by mpirun, one row per host.
public struct DoctorHosts: Sendable {
    public struct Row: Sendable, Equatable {
        /// The host as the user named it.
        var host: String
        /// The host name the remote doctor reported (nil when it did not answer).
        public var reportedName: String?
        public var verdict: String
        var passed: Int
        var warnings: Int
        public var failed: Int
        /// Ids of the checks that failed or warned, with their verdict.
        var problems: [String]
    }

    var hosts: [String]
    var mpirun: String
    /// This baton's own path, started on every host.
    var baton: String
    /// Arguments passed on to every remote doctor (the roots).
    var forwarded: [String]
    var runner: any CommandRunner
    var timeout: Double
    var extraMPIArgs: [String]

    public init(hosts: [String], mpirun: String, baton: String, forwarded: [String] = [], runner: any CommandRunner = ProcessRunner(), timeout: Double = 120, extraMPIArgs: [String] = []) {
        self.hosts = hosts
        self.mpirun = mpirun
        self.baton = baton
        self.forwarded = forwarded
        self.runner = runner
        self.timeout = timeout
        self.extraMPIArgs = extraMPIArgs
    }

    /// mpirun's argv: one process per node, each printing one JSON line.
    var argv: [String] {
        var argv = [mpirun, "--host", hosts.joined(separator: ","), "--map-by", "ppr:1:node"]
        if getuid() == 0 { argv.append("--allow-run-as-root") }
        argv += extraMPIArgs
        argv += [baton, "doctor", "--json", "--compact"] + forwarded
        return argv
    }

    public func run() throws -> (rows: [Row], mpirunFailure: String?) {
        let result = try runner.run(argv, timeout: timeout)
        var rows = Self.parse(result.stdout, hosts: hosts)
        var failure: String?
        if result.timedOut { failure = "mpirun did not finish within \(Int(timeout)) s" }
        if rows.contains(where: { $0.reportedName == nil }) {
            let tail = result.stderr.split(separator: "\n").suffix(3).joined(separator: " | ")
            failure = (failure.map { $0 + "; " } ?? "") + "mpirun exited \(result.status)" + (tail.isEmpty ? "" : ": \(tail)")
        }
        rows = rows.map { row in
            var row = row
            if row.reportedName == nil { row.problems = ["no answer"] }
            return row
        }
        return (rows, failure)
    }

    /// One mpirun per host, `width` at a time, each with `extraArgs(host)` before this plan's
    /// own extra arguments: a host that does not answer (a lost node, whose daemon never
    /// reports and makes one mpirun abort every host's doctor) costs only its own row. Used
    /// inside a Slurm allocation, where each host's step is `--overlap --exclude=<others>`.
    public func runEach(width: Int = 16, extraArgs: @Sendable (String) -> [String]) -> (rows: [Row], failures: [String]) {
        let results = RowBox(count: hosts.count)
        let gate = DispatchSemaphore(value: max(1, width))
        let group = DispatchGroup()
        for (i, host) in hosts.enumerated() {
            gate.wait()
            var one = self
            one.hosts = [host]
            one.extraMPIArgs = extraArgs(host) + extraMPIArgs
            let single = one
            DispatchQueue.global().async(group: group) {
                defer { gate.signal() }
                let outcome: (Row, String?)
                do {
                    let (rows, failure) = try single.run()
                    outcome = (rows[0], failure.map { "\(host): \($0)" })
                } catch {
                    outcome = (Row(host: host, reportedName: nil, verdict: "fail", passed: 0, warnings: 0, failed: 0,
                                   problems: ["no answer"]), "\(host): \(error)")
                }
                results.set(i, outcome)
            }
        }
        group.wait()
        let all = results.values
        return (all.map { $0!.0 }, all.compactMap { $0?.1 })
    }

    /// The rows `runEach` collects from its threads.
    private final class RowBox: @unchecked Sendable {  // every access under `lock`
        private let lock = NSLock()
        private var slots: [(Row, String?)?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ value: (Row, String?)) { lock.lock(); slots[i] = value; lock.unlock() }
        var values: [(Row, String?)?] { lock.lock(); defer { lock.unlock() }; return slots }
    }

    /// Matches each JSON line to a host by its MPI rank: with `--map-by ppr:1:node` rank i
    /// runs on the i-th host of the list.
    static func parse(_ stdout: String, hosts: [String]) -> [Row] {
        var rows = hosts.map { Row(host: $0, reportedName: nil, verdict: "fail", passed: 0, warnings: 0, failed: 0, problems: []) }
        for line in stdout.split(separator: "\n") where line.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let rank = object["rank"] as? Int, rows.indices.contains(rank) else { continue }
            rows[rank].reportedName = object["host"] as? String
            rows[rank].verdict = object["verdict"] as? String ?? "fail"
            rows[rank].passed = object["passed"] as? Int ?? 0
            rows[rank].warnings = object["warnings"] as? Int ?? 0
            rows[rank].failed = object["failed"] as? Int ?? 0
            let checks = object["checks"] as? [[String: Any]] ?? []
            rows[rank].problems = checks.compactMap { c in
                guard let id = c["id"] as? String, let v = c["verdict"] as? String, v != "pass" else { return nil }
                return "\(id) (\(v))"
            }
        }
        return rows
    }

    public static func table(_ rows: [Row]) -> String {
        TextTable.render(
            header: ["HOST", "NAME", "VERDICT", "PASS", "WARN", "FAIL", "CHECKS NOT PASSING"],
            rows: rows.map { r in
                [r.host, r.reportedName ?? "-", r.reportedName == nil ? "NO ANSWER" : r.verdict.uppercased(),
                 String(r.passed), String(r.warnings), String(r.failed), r.problems.isEmpty ? "-" : r.problems.joined(separator: ", ")]
            }) + "\n"
    }

    /// This process's executable (what mpirun starts on every host).
    public static var ownExecutable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }
}
