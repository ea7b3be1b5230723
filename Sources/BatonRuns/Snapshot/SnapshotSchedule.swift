import BatonSupport
import BatonSystem
import Foundation

/// Snapshots of a run while its head runs: periodic (`--snapshot-every`), at milestones
/// (`--snapshot-on done|best`: a grid config finished, a new best objective), one more when
/// the run ends, and retention (`--keep-snapshots N`: the N newest stay). Snapshots are taken
/// on a thread of their own, so the scheduler never waits for one; the store's backup reads
/// through its own connection while the head writes. Milestones that come while a snapshot
/// is under way are folded into one more snapshot after it (the newest milestone's label).
public final class SnapshotSchedule: @unchecked Sendable {
    /// A moment worth a snapshot of its own.
    public enum Milestone: String, Sendable, CaseIterable {
        /// A grid config finished (done).
        case done
        /// A grid config finished with the best objective so far.
        case best
    }

    public struct Settings: Sendable, Equatable {
        /// Seconds between snapshots (nil: none periodic).
        var every: Double?
        /// How many to keep (nil: all).
        var keep: Int?
        /// The folder they go to (default `RUN/snapshots`).
        public var root: String?
        /// Milestones that take a snapshot.
        public var on: Set<Milestone>

        public init(every: Double?, keep: Int? = nil, root: String? = nil, on: Set<Milestone> = []) {
            self.every = every
            self.keep = keep
            self.root = root
            self.on = on
        }

        /// The settings from the command-line options of `grid` and `launch`
        /// (`--snapshot-every 30m --snapshot-on best --keep-snapshots N --snapshot-to DIR`);
        /// nil without `--snapshot-every` or `--snapshot-on`.
        public static func parse(every: String?, keep: Int?, to: String?, on: [String] = []) throws(SnapshotError) -> Settings? {
            guard every != nil || !on.isEmpty else {
                if keep != nil || to != nil {
                    throw SnapshotError(.badInput, "--keep-snapshots and --snapshot-to go with --snapshot-every DURATION or --snapshot-on MILESTONE")
                }
                return nil
            }
            var seconds: Double?
            if let every {
                guard let s = parseDuration(every), s > 0 else {
                    throw SnapshotError(.badInput, "--snapshot-every \(every) is not a positive duration (e.g. 30m)")
                }
                seconds = s
            }
            var milestones: Set<Milestone> = []
            for m in on.flatMap({ $0.split(separator: ",") }) {
                guard let v = Milestone(rawValue: String(m)) else {
                    throw SnapshotError(.badInput, "--snapshot-on \(m): expected \(Milestone.allCases.map(\.rawValue).joined(separator: " or "))")
                }
                milestones.insert(v)
            }
            if let keep, keep < 1 { throw SnapshotError(.badInput, "--keep-snapshots \(keep): keep at least 1") }
            return Settings(every: seconds, keep: keep, root: to.map { absolutePath($0) }, on: milestones)
        }

        /// The settings as run-store meta values (a resumed grid keeps them), and back.
        public var meta: [(String, String)] {
            [("snapshot_every", every.map { String($0) } ?? ""), ("snapshot_keep", keep.map(String.init) ?? ""),
             ("snapshot_to", root ?? ""), ("snapshot_on", on.map(\.rawValue).sorted().joined(separator: ","))]
        }

        public init?(meta: [String: String]) {
            let every = meta["snapshot_every"].flatMap(Double.init)
            let on = Set((meta["snapshot_on"] ?? "").split(separator: ",").compactMap { Milestone(rawValue: String($0)) })
            guard every != nil || !on.isEmpty else { return nil }
            let root = meta["snapshot_to"].flatMap { $0.isEmpty ? nil : $0 }
            self.init(every: every, keep: meta["snapshot_keep"].flatMap { Int($0) }, root: root, on: on)
        }
    }

    let runDir: String
    let settings: Settings
    let say: @Sendable (String) -> Void
    private let condition = NSCondition()
    private var stopping = false
    private var started = false
    private var finished = false
    /// The label of a milestone snapshot asked for and not yet begun.
    private var requested: String?
    /// Snapshots taken so far (periodic and final).
    private(set) var taken = 0

    public init(runDir: String, settings: Settings, say: @escaping @Sendable (String) -> Void) {
        self.runDir = runDir
        self.settings = settings
        self.say = say
    }

    /// Starts the periodic snapshots (the first one interval after the start) and the
    /// thread milestone snapshots are taken on.
    public func start() {
        started = true
        startThread("baton-snapshots") { [self] in loop() }
    }

    private func loop() {
        condition.lock()
        let period = settings.every
        // (No `wait(until: .distantFuture)`: corelibs Foundation traps on it; measured.)
        var next = period.map { Date().addingTimeInterval($0) }
        while !stopping {
            if let label = requested {
                requested = nil
                condition.unlock()
                snapshot(label: label)
                condition.lock()
                continue
            }
            guard let due = next else { condition.wait(); continue }
            if condition.wait(until: due) || stopping || requested != nil { continue }
            condition.unlock()
            snapshot(label: "every \(formatDuration(period ?? 0))")
            condition.lock()
            next = period.map { Date().addingTimeInterval($0) }
        }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Asks for a snapshot at a milestone, taken as soon as the one under way (if any) ends.
    public func request(label: String) {
        condition.lock()
        requested = label
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the periodic snapshots (waiting for one under way) and takes the last one.
    public func finish(label: String = "run end") {
        condition.lock()
        stopping = true
        condition.broadcast()
        while started && !finished { condition.wait() }
        condition.unlock()
        snapshot(label: label)
    }

    /// One snapshot plus retention; a failure is reported and the run goes on.
    func snapshot(label: String) {
        do {
            let t = try RunSnapshot.take(runDir: runDir, options: RunSnapshot.Options(label: label, root: settings.root))
            condition.lock()
            taken += 1
            condition.unlock()
            var line = "snapshot \(t.manifest.id) (\(label)): \(t.manifest.files.count) files, "
                + "\(ByteSize.human(UInt64(t.manifest.bytes))) (\(t.linked) linked, \(t.copied) copied) in \(formatDuration(t.manifest.seconds))"
            if let keep = settings.keep {
                let removed = try RunSnapshot.prune(root: (t.dir as NSString).deletingLastPathComponent, keep: keep)
                if !removed.isEmpty { line += "; removed \(removed.joined(separator: ", ")) (keeping \(keep))" }
            }
            say(line)
        } catch {
            say("snapshot (\(label)) failed: \(error)")
        }
    }
}
