/// The arguments of `baton-exec guard` (`MpirunGuard` in BatonExec), both ways: the head
/// encodes them, the guard parses them. The only copy of this vocabulary.
public enum GuardArguments {
    /// The first word of the guard's arguments to `baton-exec`.
    public static let word = "guard"

    /// The argv of the guard at `guardPath` watching mpirun (`pid`, started at `startTime`
    /// clock ticks after boot) for the attempt marked `token`.
    public static func encode(guardPath: String, token: String, mpirun pid: Int32, startTime: UInt64) -> [String] {
        [guardPath, word, "--token", token, "--mpirun", String(pid), "--start", String(startTime)]
    }

    /// The token, mpirun's pid and its start time from the guard's arguments (after the
    /// executable), or nil.
    public static func parse(_ args: [String]) -> (token: String, mpirun: Int32, startTime: UInt64)? {
        guard args.count == 7, args[0] == word, args[1] == "--token", args[3] == "--mpirun", args[5] == "--start",
              let pid = Int32(args[4]), let start = UInt64(args[6]) else { return nil }
        return (args[2], pid, start)
    }
}
