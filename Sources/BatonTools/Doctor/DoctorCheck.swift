import BatonSupport
/// One pre-flight check's outcome.
struct DoctorCheck: Sendable, Equatable {
    enum Verdict: String, Sendable, Comparable {
        case pass, warn, fail
        static func < (a: Verdict, b: Verdict) -> Bool {
            let order: [Verdict] = [.pass, .warn, .fail]
            return order.firstIndex(of: a)! < order.firstIndex(of: b)!
        }
    }

    /// Short stable name, e.g. "memlock".
    var id: String
    var verdict: Verdict
    /// What was seen, in a sentence.
    var seen: String
    /// What to do about it (nil when nothing needs doing).
    var fix: String?

    init(_ id: String, _ verdict: Verdict, _ seen: String, fix: String? = nil) {
        self.id = id
        self.verdict = verdict
        self.seen = seen
        self.fix = fix
    }
}

/// All checks of one host.
public struct DoctorReport: Sendable, Equatable {
    var host: String
    var checks: [DoctorCheck]

    init(host: String, checks: [DoctorCheck]) {
        self.host = host
        self.checks = checks
    }

    /// The worst verdict; warnings do not fail.
    var verdict: DoctorCheck.Verdict { checks.map(\.verdict).max() ?? .pass }
    public var exitCode: Int32 { verdict == .fail ? ExitCodes.checkFailed : ExitCodes.success }

    func count(_ v: DoctorCheck.Verdict) -> Int { checks.filter { $0.verdict == v }.count }

    var summary: String {
        let w = count(.warn), f = count(.fail)
        return "\(count(.pass)) passed, \(w) warning\(w == 1 ? "" : "s"), \(f) failed"
    }

    public var text: String {
        var out: [String] = []
        for c in checks {
            out.append("[\(c.verdict.rawValue.uppercased())] \(c.id): \(c.seen)")
            if let fix = c.fix { out.append("       fix: \(fix)") }
        }
        out.append("doctor: \(summary)")
        return out.joined(separator: "\n") + "\n"
    }

    public func json(rank: Int? = nil) -> OrderedJSON {
        var members: [(String, OrderedJSON)] = [("host", .string(host))]
        if let rank { members.append(("rank", .int(rank))) }
        members += [
            ("verdict", .string(verdict.rawValue)),
            ("passed", .int(count(.pass))), ("warnings", .int(count(.warn))), ("failed", .int(count(.fail))),
            ("checks", .array(checks.map { c in
                .object([("id", .string(c.id)), ("verdict", .string(c.verdict.rawValue)), ("seen", .string(c.seen)), ("fix", .optional(c.fix))])
            })),
        ]
        return .object(members)
    }
}
