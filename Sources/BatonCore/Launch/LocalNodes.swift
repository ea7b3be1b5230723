import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--local N`: N simulated nodes on this machine, each a real mpirun daemon with its
/// ranks. mpirun is given host names `local-0` ... and an rsh agent (a small script in the
/// run directory) that runs the daemon's command here, in a session of its own, and
/// records the session id in `<run>/local/<node>.sid`. Killing that session is a node
/// crash; its processes are all the node's processes.
public enum LocalNodes {
    /// Writes the agent script and returns its path.
    public static func installAgent(runDir: String) throws -> String {
        let dir = "\(runDir)/local"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = "\(dir)/rsh-agent"
        guard !path.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" }) else {
            throw LaunchError.badInput("--local needs a run directory without spaces (mpirun splits its rsh agent on spaces): \(runDir)")
        }
        let script = """
            #!/bin/sh
            # Written by baton launch --local: the rsh agent for simulated nodes.
            # mpirun calls: AGENT HOST DAEMON-COMMAND... (meant for a remote shell, as ssh would run it).
            # The daemon runs on this machine in a session of its own (setsid --fork --wait keeps
            # this agent alive like an ssh client would), its session id in \(dir)/HOST.sid.
            host=$1; shift
            case "$host" in local-[0-9]|local-[0-9][0-9]|local-[0-9][0-9][0-9]) ;; *) echo "baton local agent: unknown node '$host'" >&2; exit 255;; esac
            # Each simulated node gets its own TMPDIR: Open MPI names its session directory (and
            # PMIx its shared-memory store) after the host name, which all simulated nodes share.
            TMPDIR=$(mktemp -d /tmp/baton-local-node.XXXXXX) || exit 255
            export TMPDIR
            setsid --fork --wait /bin/sh -c 'echo $$ > "$0"; exec /bin/sh -c "$1"' "\(dir)/$host.sid" "$*" &
            child=$!
            # mpirun may signal its agents while it aborts: pass it on but keep waiting for
            # the daemon's real status, so a crash is always told.
            trap 'kill -TERM $child 2>/dev/null' TERM INT HUP
            while :; do
              wait $child; rc=$?
              kill -0 $child 2>/dev/null || { wait $child; rc=$?; break; }
            done
            rm -rf "$TMPDIR"
            # setsid --wait exits with the raw wait status when the daemon was killed: 9 is SIGKILL,
            # i.e. the simulated node crashed. Say so in the line the head recognises.
            if [ "$rc" -eq 9 ]; then echo "baton-agent: node $host lost: its daemon was killed (SIGKILL)" >&2; fi
            exit "$rc"

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// The session id of a simulated node's daemon, if it is running.
    public static func session(of node: String, runDir: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: "\(runDir)/local/\(node).sid", encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Every pid whose session is `sid` (read from /proc).
    public static func processes(inSession sid: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [pid_t] = []
        for e in entries {
            guard let pid = pid_t(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after "(comm)": state ppid pgrp session ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 3, pid_t(fields[3]) == sid { result.append(pid) }
        }
        return result
    }

    /// Simulates a node crash: SIGKILL to every process of the node's session.
    @discardableResult
    public static func crash(node: String, runDir: String) -> Int {
        guard let sid = session(of: node, runDir: runDir) else { return 0 }
        let pids = processes(inSession: sid)
        for p in pids { kill(p, SIGKILL) }
        return pids.count
    }
}
