// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import FoundationEssentials

/// The arguments of `baton-exec health` (`NodeHealth` in BatonExec), the node side of the
/// launch's health gate, both ways: the head encodes them, the node parses them, and the
/// node's one line of answer is read back here too. The only copy of this vocabulary.
public struct HealthArguments: Sendable, Equatable {
    /// The first word of the check's arguments to `baton-exec`.
    static let word = "health"
    /// The prefix of the one line the check prints (mpirun forwards it).
    public static let answerPrefix = "baton-health: "

    /// Directories that must be writable with `minFree` bytes free (the run directory, the
    /// checkpoint directory); one that does not exist yet is judged by its nearest parent.
    public var directories: [String] = []
    public var minFree: UInt64 = 0
    /// The memlock limit must be at least this (nil: not checked).
    public var minMemlock: UInt64?

    public init(directories: [String] = [], minFree: UInt64 = 0, minMemlock: UInt64? = nil) {
        self.directories = directories
        self.minFree = minFree
        self.minMemlock = minMemlock
    }

    /// The argv after the executable.
    public func encode() -> [String] {
        var argv = [Self.word, "--min-free", String(minFree)]
        if let minMemlock { argv += ["--min-memlock", String(minMemlock)] }
        for d in directories { argv += ["--dir", d] }
        return argv
    }

    /// The arguments after the executable, or nil when they are not a health check's.
    public static func parse(_ args: [String]) -> HealthArguments? {
        guard args.first == word else { return nil }
        var a = HealthArguments()
        var i = 1
        while i + 1 < args.count {
            let (name, value) = (args[i], args[i + 1])
            switch name {
            case "--dir": a.directories.append(value)
            case "--min-free": guard let v = UInt64(value) else { return nil }; a.minFree = v
            case "--min-memlock": guard let v = UInt64(value) else { return nil }; a.minMemlock = v
            default: return nil
            }
            i += 2
        }
        return i == args.count ? a : nil
    }

    /// The node's answer in its output: `.some(nil)` when it passed, `.some(reason)` when it
    /// failed, nil when no line of the check is there (the node never ran it).
    public static func problem(inOutput text: String) -> String?? {
        for line in text.split(separator: "\n") where line.hasPrefix(answerPrefix) {
            let rest = line.dropFirst(answerPrefix.count)
            if rest == "ok" { return .some(nil) }
            return .some(String(rest))
        }
        return nil
    }
}
