import BatonProtocol
import BatonRuns
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--local N`: a host source, like a hostfile. N simulated nodes on this machine named
/// `local-0` ... `local-(N-1)`, reached by mpirun through an rsh agent (a small script in
/// the run directory) exactly as real nodes are reached through ssh: the same mpirun, the
/// same `baton exec`, heartbeats, leases and node-loss rules.
///
/// - Each node is a session of its own, its Open MPI daemon's, so the node's processes are
///   exactly the session's, and killing the session is a node crash. The agent behaves as
///   ssh does: it waits for the daemon, prints nothing of its own and exits 255 when the
///   daemon was killed; the head judges the loss from mpirun and the agent's end (`AgentWatch`).
/// - Each node has a loopback address of its own (`address(of:)`, Linux routes all of
///   127.0.0.0/8 to `lo`), so MASTER_ADDR resolves for torch's TCPStore and friends.
/// - The session id is in `<dir>/<node>.sid`; `BATON_AGENT_NODE` names the node in the
///   environment of all its processes.
public enum LocalNodes {
    /// The most simulated nodes (names and addresses are laid out for this many).
    static let maxNodes = 999

    /// `N` simulated nodes with one slot each.
    public static func hosts(count: Int) -> HostList { HostList.local(count: count) }

    /// The index of a simulated node's name, nil for any other name.
    static func index(of node: String) -> Int? {
        guard node.hasPrefix("local-"), let k = Int(node.dropFirst(6)), k >= 0, k < maxNodes, "local-\(k)" == node else { return nil }
        return k
    }

    /// The loopback address of simulated node `local-K`: 127.1.(K / 250).(K % 250 + 1).
    static func address(of node: String) -> String? {
        index(of: node).map { "127.1.\($0 / 250).\($0 % 250 + 1)" }
    }

    /// The mpirun options of every job on simulated nodes (a launch's attempt and a grid's
    /// health check alike), with `agent` from `installAgent`: `MPISettings`' rows for the
    /// host source, where each is explained.
    public static func mpirunArguments(agent: String, ranks: Int = 1, machine: MPISettings.Machine = .current) -> [String] {
        MPISettings.arguments(MPISettings.Context(source: .local, agent: agent, ranksHere: ranks, machine: machine), part: .hosts)
    }

    /// Where a simulated node's TMPDIR is made: this, then its session id.
    static let nodeTmpPrefix = "/tmp/baton-node-"

    /// Writes the agent script into `dir` and returns its path.
    public static func installAgent(dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = RunDirectory.localAgent(in: dir)
        guard !path.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "'" }) else {
            throw LaunchError(.badInput, "--local needs a run directory without spaces or quotes (mpirun splits its rsh agent on spaces): \(dir)")
        }
        let script = """
            #!/bin/sh
            # Written by baton for --local: the rsh agent of simulated nodes.
            # mpirun calls: AGENT HOST DAEMON-COMMAND... (meant for a remote shell, as ssh runs it).
            # Like ssh, it waits for the daemon, prints nothing of its own, and exits with the
            # daemon's status (255 when a signal ended it). The node is a session of its own (the
            # daemon's; its id is written to \(dir)/HOST.sid): killing that session is a crash.
            host=$1; shift
            case "$host" in local-[0-9]|local-[0-9][0-9]|local-[0-9][0-9][0-9]) ;; *) echo "baton local agent: unknown node '$host'" >&2; exit 255;; esac
            BATON_AGENT_NODE=$host
            export BATON_AGENT_NODE
            # Inside the new session $$ is the session id. Each node gets its own TMPDIR: Open MPI
            # names its session directory (and PMIx its shared-memory store) after the host name,
            # which all simulated nodes share; removed when the daemon ends (below) and by the head.
            # (A background job of a non-interactive shell leads no process group, so setsid
            # makes it the session leader without forking.)
            # The daemon's command line is shell words, as ssh hands them to the remote shell:
            # this shell parses them itself (eval) rather than through one more /bin/sh.
            setsid /bin/sh -c 'TMPDIR=\(nodeTmpPrefix)$$; export TMPDIR; mkdir -p "$TMPDIR" && echo $$ > "$0.tmp" && mv "$0.tmp" "$0" && eval "exec $1"' "\(RunDirectory.localSession(in: dir, node: "$host"))" "$*" &
            child=$!
            # The shell's own words ("Killed") are not the agent's to say: ssh says nothing.
            exec 2>/dev/null
            # mpirun may signal its agents while it aborts: pass it on, keep waiting for the daemon.
            trap 'kill -TERM $child 2>/dev/null' TERM INT HUP
            while :; do
              wait $child; rc=$?
              kill -0 $child 2>/dev/null || break
            done
            # The daemon is gone: its TMPDIR too (the head also removes it once the session has
            # ended, but a head that was killed never does). $child is the session id.
            rm -rf "\(nodeTmpPrefix)$child"
            [ "$rc" -gt 128 ] && exit 255
            exit "$rc"

            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// The session id of a simulated node's daemon while the session is alive.
    public static func session(of node: String, dir: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: RunDirectory.localSession(in: dir, node: node), encoding: .utf8),
              let sid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              !ProcessTable.members(ofSession: sid).isEmpty else { return nil }
        return sid
    }

    /// Sends `signal` to every process of the node (SIGKILL: a crash, SIGSTOP: a hang);
    /// returns how many it reached.
    @discardableResult
    public static func signal(node: String, dir: String, _ signal: Int32) -> Int {
        guard let sid = session(of: node, dir: dir) else { return 0 }
        return ProcessTable.signal(session: sid, signal)
    }

    /// Forgets every node's session in `dir` that nothing runs in any more: after an earlier
    /// head's attempts were killed (`--resume`), whose agents never got to remove their
    /// node's TMPDIR, and whose sid files the next attempts would overwrite.
    public static func cleanAll(dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for file in names where file.hasSuffix(RunDirectory.Relative.localSessionSuffix) {
            clean(node: String(file.dropLast(RunDirectory.Relative.localSessionSuffix.count)), dir: dir)
        }
    }

    /// Forgets a node's session once nothing of it runs (its sid file and TMPDIR).
    public static func clean(node: String, dir: String) {
        let file = RunDirectory.localSession(in: dir, node: node)
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
              let sid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        guard ProcessTable.members(ofSession: sid).isEmpty else { return }
        try? FileManager.default.removeItem(atPath: "\(nodeTmpPrefix)\(sid)")
        try? FileManager.default.removeItem(atPath: file)
    }
}
