/// What a rank says of its progress: a line the command writes to BATON_PROGRESS_FD (the
/// Python and Swift helpers do), and the payload of the `prog` line `baton exec` passes on
/// to the head. One form for both directions:
///
///     armed PID     the command reports progress (the helper is loaded); PID answers a
///                   stack request (SIGUSR2: the helper's faulthandler writes BATON_STACKS)
///     step N        step N is done (N counts up; a repeated or smaller N is still progress)
///     phase NAME    a phase that is not a training step begins (eval, checkpoint, ...)
///     phase -       the phase has ended
///     stacks PATH   (wrapper to head only) this rank's stacks are at PATH
///
/// The head judges a hang from these (docs/launch.md, "Hangs and stragglers").
public enum ProgressMark: Sendable, Equatable {
    case armed(pid: Int32)
    case step(Int)
    case phase(String?)
    case stacks(path: String)

    public var payload: String {
        switch self {
        case .armed(let pid): return "armed \(pid)"
        case .step(let n): return "step \(n)"
        case .phase(let name): return "phase \(name ?? "-")"
        case .stacks(let path): return "stacks \(path)"
        }
    }

    /// Parses one line (or payload); nil for anything else, which is ignored.
    public static func parse<S: StringProtocol>(_ line: S) -> ProgressMark? {
        let full = String(line)
        let text = full.hasSuffix("\r") ? full.dropLast() : Substring(full)
        guard let space = text.firstIndex(of: " ") else { return nil }
        let word = text[..<space]
        let rest = String(text[text.index(after: space)...])
        switch word {
        case "armed": return Int32(rest).map { .armed(pid: $0) }
        case "step": return Int(rest).map { .step($0) }
        case "phase":
            guard !rest.isEmpty, !rest.contains(" ") else { return nil }
            return .phase(rest == "-" ? nil : rest)
        case "stacks": return rest.isEmpty ? nil : .stacks(path: rest)
        default: return nil
        }
    }
}
