import BatonExec
import Foundation

/// Periodic snapshots of a run while its head runs (`--snapshot-every`), one more when the
/// run ends, and retention (`--keep-snapshots N`: the N newest stay). Snapshots are taken
/// on a thread of their own, so the scheduler never waits for one; the store's backup reads
/// through its own connection while the head writes.
public final class SnapshotSchedule: @unchecked Sendable {
    public struct Settings: Sendable {
        /// Seconds between snapshots.
        public var every: Double
        /// How many to keep (nil: all).
        public var keep: Int?
        /// The folder they go to (default `RUN/snapshots`).
        public var root: String?

        public init(every: Double, keep: Int? = nil, root: String? = nil) {
            self.every = every
            self.keep = keep
            self.root = root
        }

        /// The settings from the command-line options of `grid` and `launch`
        /// (`--snapshot-every 30m --keep-snapshots N --snapshot-to DIR`); nil without
        /// `--snapshot-every`.
        public static func parse(every: String?, keep: Int?, to: String?) throws(SnapshotError) -> Settings? {
            guard let every else {
                if keep != nil || to != nil {
                    throw SnapshotError(.badInput, "--keep-snapshots and --snapshot-to go with --snapshot-every DURATION")
                }
                return nil
            }
            guard let seconds = parseDuration(every), seconds > 0 else {
                throw SnapshotError(.badInput, "--snapshot-every \(every) is not a positive duration (e.g. 30m)")
            }
            if let keep, keep < 1 { throw SnapshotError(.badInput, "--keep-snapshots \(keep): keep at least 1") }
            return Settings(every: seconds, keep: keep, root: to.map(RunSnapshot.absolute))
        }
    }

    let runDir: String
    let settings: Settings
    let say: @Sendable (String) -> Void
    private let condition = NSCondition()
    private var stopping = false
    private var started = false
    private var finished = false
    /// Snapshots taken so far (periodic and final).
    public private(set) var taken = 0

    public init(runDir: String, settings: Settings, say: @escaping @Sendable (String) -> Void) {
        self.runDir = runDir
        self.settings = settings
        self.say = say
    }

    /// Starts the periodic snapshots; the first comes one interval after the start.
    public func start() {
        started = true
        startThread("baton-snapshots") { [self] in loop() }
    }

    private func loop() {
        condition.lock()
        var next = Date().addingTimeInterval(settings.every)
        while !stopping {
            if condition.wait(until: next) || stopping { continue }
            condition.unlock()
            snapshot(label: "every \(GridFormat.duration(settings.every))")
            condition.lock()
            next = Date().addingTimeInterval(settings.every)
        }
        finished = true
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
                + "\(ByteSize.human(UInt64(t.manifest.bytes))) (\(t.linked) linked, \(t.copied) copied) in \(GridFormat.duration(t.manifest.seconds))"
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
