/// The arguments of `baton-exec guard` (`MpirunGuard` in BatonExec), both ways: the head
/// encodes them, the guard parses them. The only copy of this vocabulary.
public enum GuardArguments {
    /// The first word of the guard's arguments to `baton-exec`.
    public static let word = "guard"

    /// The argv that runs `mpirun` (an argv) under the guard at `guardPath`.
    public static func encode(guardPath: String, token: String, mpirun: [String]) -> [String] {
        [guardPath, word, "--token", token, "--"] + mpirun
    }

    /// The token and mpirun's argv from the guard's arguments (after the executable), or nil.
    public static func parse(_ args: [String]) -> (token: String, mpirun: [String])? {
        guard args.count >= 5, args[0] == word, args[1] == "--token", args[3] == "--" else { return nil }
        return (args[2], Array(args[4...]))
    }
}
