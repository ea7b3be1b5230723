#if canImport(Glibc)
import BatonSystem
import Glibc
#endif

/// One line of the `baton exec` -> head protocol (version 1), as documented in
/// docs/launch.md. Every line `baton exec` writes to its stdout is
///
///     @baton/1 <kind> <node> <rank> <payload>
///
/// where `kind` is one of `Kind`, `node` a host name, `rank` the world rank, and `payload`
/// escaped so that it holds no `@`, no control character and no backslash other than in
/// escapes. So no part of a user's line, however mpirun chunks and interleaves the
/// ranks' output, can ever start a line with `@baton/1`.
public struct TaggedLine: Sendable, Equatable {
    static let prefix = "@baton/1"

    public enum Kind: String, Sendable, CaseIterable {
        /// A line the command wrote to stdout.
        case out
        /// A line the command wrote to stderr.
        case err
        /// Heartbeat; payload: a sequence number, then (since hang detection) how long the
        /// command has been busy (`Heartbeat`).
        case hb
        /// A JSON line the command appended to `$BATON_METRICS`.
        case metric
        /// The command started; payload: `pid=N`.
        case start
        /// The command ended; payload: `code=N` or `signal=N`.
        case exit
        /// The wrapper fenced itself (killed its command); payload: the reason.
        case fence
        /// A message of the wrapper itself (a warning); payload: the text.
        case note
        /// The rank's progress; payload: a `ProgressMark`.
        case prog
    }

    public var kind: Kind
    public var node: String
    public var rank: Int
    public var payload: String

    public init(kind: Kind, node: String, rank: Int, payload: String) {
        self.kind = kind
        self.node = node
        self.rank = rank
        self.payload = payload
    }

    /// The encoded line, without the trailing newline.
    public var encoded: String {
        "\(Self.prefix) \(kind.rawValue) \(node) \(rank) \(Self.escape(payload))"
    }

    /// Decodes one line (without its newline). Returns nil for anything that is not a
    /// well-formed version-1 tag: such lines are mpirun's own output.
    public static func decode<S: StringProtocol>(_ line: S) -> TaggedLine? {
        guard line.hasPrefix(prefix + " ") else { return nil }
        let rest = line.dropFirst(prefix.count + 1)
        let parts = rest.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 3, let kind = Kind(rawValue: String(parts[0])), !parts[1].isEmpty,
              HostList.nameProblem(String(parts[1])) == nil,
              let rank = Int(parts[2]), rank >= 0
        else { return nil }
        let payload = parts.count == 4 ? unescape(parts[3]) : ""
        guard let payload else { return nil }
        return TaggedLine(kind: kind, node: String(parts[1]), rank: rank, payload: payload)
    }

    /// `\` -> `\\`, `@` -> `\x40`, every control character (and DEL) -> `\xHH`.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "@": out += "\\x40"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// The inverse of `escape`; nil when the text holds a malformed escape.
    static func unescape<S: StringProtocol>(_ text: S) -> String? {
        var out = String.UnicodeScalarView()
        var it = text.unicodeScalars.makeIterator()
        while let s = it.next() {
            if s == "@" { return nil }
            guard s == "\\" else { out.append(s); continue }
            guard let e = it.next() else { return nil }
            if e == "\\" { out.append("\\"); continue }
            guard e == "x", let h1 = it.next(), let h2 = it.next(),
                  let v = UInt32(String(h1) + String(h2), radix: 16), let u = Unicode.Scalar(v)
            else { return nil }
            out.append(u)
        }
        return String(out)
    }
}

/// A line the head writes to `mpirun --stdin all`, which forwards it to every wrapper.
///
///     @baton/1 lease <attempt> <seq>     renew the lease of attempt N
///     @baton/1 signal <attempt> <signo>  forward a signal to every rank's command
///     @baton/1 stacks <attempt> 0        write every rank's stacks (a hang)
public enum HeadMessage: Sendable, Equatable {
    case lease(attempt: Int, sequence: Int)
    case signal(attempt: Int, signal: Int32)
    /// Write every rank's stacks (a hang was seen): each wrapper answers with a `prog`
    /// line `stacks PATH` once its rank's are written.
    case stacks(attempt: Int)
    /// Checkpoint soon (the head wants to restart at a checkpoint, `--grow-after`): each
    /// wrapper writes the command's BATON_CHECKPOINT_REQUEST file.
    case checkpoint(attempt: Int)

    public var encoded: String {
        switch self {
        case .lease(let a, let s): return "\(TaggedLine.prefix) lease \(a) \(s)"
        case .signal(let a, let n): return "\(TaggedLine.prefix) signal \(a) \(n)"
        case .stacks(let a): return "\(TaggedLine.prefix) stacks \(a) 0"
        case .checkpoint(let a): return "\(TaggedLine.prefix) checkpoint \(a) 0"
        }
    }

    public static func decode<S: StringProtocol>(_ line: S) -> HeadMessage? {
        let parts = line.split(separator: " ")
        guard parts.count == 4, parts[0] == TaggedLine.prefix, let a = Int(parts[2]) else { return nil }
        switch parts[1] {
        case "lease": return Int(parts[3]).map { .lease(attempt: a, sequence: $0) }
        case "signal": return Int32(parts[3]).map { .signal(attempt: a, signal: $0) }
        case "stacks": return .stacks(attempt: a)
        case "checkpoint": return .checkpoint(attempt: a)
        default: return nil
        }
    }
}

/// The payload of an `exit` line, both directions in one place:
///
///     code=N [after=SIGNAME]     the command exited with N
///     signal=S [after=SIGNAME]   a signal ended the command
///
/// `after=` marks an end that a stop from outside (the daemon, the head) caused, so the
/// head can tell a teardown from the command failing by itself.
public struct RankExit: Sendable, Equatable, Codable, CustomStringConvertible {
    public var status: ExitStatus
    /// The stop signal from outside the command came before its end, if one did.
    var after: Int32?

    public init(status: ExitStatus, after: Int32? = nil) {
        self.status = status
        self.after = after
    }

    public var succeeded: Bool { status == .exited(0) }
    /// The command failed by itself: not 0, and not after a stop from outside.
    public var failedByItself: Bool { !succeeded && after == nil }

    public var payload: String {
        let head: String
        switch status {
        case .exited(let c): head = "code=\(c)"
        case .signaled(let s): head = "signal=\(s)"
        }
        // A command that exits 0 after a stop succeeded all the same.
        return head + (after.map { succeeded ? "" : " after=\(signalName($0))" } ?? "")
    }

    public var description: String { payload }

    public static func decode<S: StringProtocol>(_ payload: S) -> RankExit? {
        var status: ExitStatus?
        var after: Int32?
        for word in payload.split(separator: " ") {
            if word.hasPrefix("code="), let c = Int32(word.dropFirst(5)) { status = .exited(c) }
            if word.hasPrefix("signal="), let s = Int32(word.dropFirst(7)) { status = .signaled(s) }
            if word.hasPrefix("after=") { after = signalNumber(String(word.dropFirst(6))) ?? SIGTERM }
        }
        return status.map { RankExit(status: $0, after: after) }
    }
}
