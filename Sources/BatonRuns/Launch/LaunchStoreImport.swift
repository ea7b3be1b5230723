import BatonProtocol
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one conversion of a launch run made before the store (its files only: attempt
/// plans and records, events.jsonl, report.json, rank 0's metrics files) into a store
/// (`RUN/launch.sqlite`), run when a reader or a head first opens such a run. After it the
/// readers read the store alone; the files stay as they were.
///
/// The store is built beside its final name and linked into place, so a reader never sees
/// half of it, and two processes converting at once (or a head creating its store while a
/// reader converts) end with one store: `link` fails when the name exists, and the loser
/// removes its copy. A run that cannot be written (another user's, a read-only disk) stays
/// unconverted and its readers find no store.
enum LaunchStoreImport {
    /// Converts `runDir` when it is a launch run without a store; does nothing otherwise.
    static func convert(runDir: String) throws {
        let run = RunDirectory(runDir)
        let fm = FileManager.default
        guard !fm.fileExists(atPath: run.launchStore), run.kind == .launch else { return }
        // A run with nothing written yet (a head that has just written its launch.json) has
        // nothing to convert: its head creates the store (building an empty one here cost a
        // new launch about 50 ms).
        guard fm.fileExists(atPath: run.events) || !((try? fm.contentsOfDirectory(atPath: run.attempts)) ?? []).isEmpty
        else { return }
        let temporary = run.launchStore + ".import-\(getpid())"
        defer { unlink(temporary) }
        unlink(temporary)
        do {
            let store = try LaunchStore(path: temporary, create: true, readOnly: false, durable: true,
                                        missing: { LaunchError(.cannotStart, "cannot create \(temporary)") })
            try store.commit(ops(run))
            // One file to link into place: no WAL beside it (a head reopens it in WAL mode).
            try store.store.db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = DELETE") }
            try store.store.db.close()
        }
        if link(temporary, run.launchStore) != 0 && errno != EEXIST {
            throw LaunchError(.cannotStart, "cannot link \(temporary) to \(run.launchStore): \(String(cString: strerror(errno)))")
        }
    }

    /// What the files of a run made before the store say, as store changes: every attempt
    /// with a plan (its start from its attempt-start event), the end of every attempt with
    /// a record or in the report, the events line for line (a torn last line left out),
    /// rank 0's metrics lines, and how the launch ended.
    static func ops(_ run: RunDirectory) -> [LaunchStoreOp] {
        let fm = FileManager.default
        var ops: [LaunchStoreOp] = []
        var events: [[String: Any]] = []
        if let text = try? String(contentsOfFile: run.events, encoding: .utf8) {
            for line in text.split(separator: "\n") {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
                events.append(obj)
                ops.append(.importedEvent(time: number(obj["time"]) ?? 0, kind: obj["event"] as? String ?? "?", line: String(line)))
            }
        }
        func lastEvent(_ kind: LaunchEventKind, attempt: Int) -> [String: Any]? {
            events.last { LaunchEventKind.of($0) == kind && (($0["attempt"] as? NSNumber)?.intValue == attempt) }
        }
        let names = (try? fm.contentsOfDirectory(atPath: run.attempts)) ?? []
        let numbers = names.compactMap(RunDirectory.Relative.attemptNumber(planFile:)).sorted()
        var recorded = Set<Int>()
        for n in numbers {
            guard let text = try? String(contentsOfFile: run.attemptPlan(n), encoding: .utf8),
                  let plan = try? JSONDecoder().decode(LaunchPlan.self, from: Data(text.utf8)) else { continue }
            let start = lastEvent(.attemptStart, attempt: n)
            ops.append(.attemptStart(number: n, nodes: plan.hosts.map(\.name), world: plan.worldSize, masterPort: plan.contract.masterPort,
                                     consumed: (start?["consumed"] as? NSNumber)?.intValue ?? 0, startedAt: number(start?["time"]) ?? 0,
                                     plan: text))
            if let data = fm.contents(atPath: run.attemptRecord(n)), let r = try? JSONDecoder().decode(AttemptRecord.self, from: data) {
                ops.append(.attemptEnd(r, endedAt: number(lastEvent(.attemptEnd, attempt: n)?["time"]) ?? 0))
                recorded.insert(n)
            }
            if let text = try? String(contentsOfFile: run.rankMetrics(n, rank: 0), encoding: .utf8) {
                for line in text.split(separator: "\n")
                where (try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any] {
                    ops.append(.metric(attempt: n, rank: 0, time: 0, line: String(line)))
                }
            }
        }
        if let data = fm.contents(atPath: run.report), let report = try? JSONDecoder().decode(LaunchReport.self, from: data) {
            for r in report.attempts where !recorded.contains(r.attempt) {
                ops.append(.attemptEnd(r, endedAt: number(lastEvent(.attemptEnd, attempt: r.attempt)?["time"]) ?? 0))
            }
            ops.append(.end(result: report.result, reason: report.reason, exitCode: report.exitCode, lastConsumed: report.lastConsumed))
        }
        return ops
    }

    static func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }
}
