/// The arguments of `baton-exec guard` (`MpirunGuard` in BatonExec), both ways: the head
/// encodes them, the guard parses them. The only copy of this vocabulary.
public enum GuardArguments {
    /// The first word of the guard's arguments to `baton-exec`.
    static let word = "guard"

    /// The argv of the guard at `guardPath` for the head whose mark (`DaemonEnvironment.headKey`)
    /// is `head`.
    public static func encode(guardPath: String, head: String) -> [String] {
        [guardPath, word, "--head", head]
    }

    /// The head's mark from the guard's arguments (after the executable), or nil.
    public static func parse(_ args: [String]) -> String? {
        guard args.count == 3, args[0] == word, args[1] == "--head", !args[2].isEmpty else { return nil }
        return args[2]
    }
}
