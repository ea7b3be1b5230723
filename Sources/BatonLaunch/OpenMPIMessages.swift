/// Every line of Open MPI's own output (mpirun's, untagged) that Baton's judgement reads,
/// and what it means. Nothing else in Baton matches mpirun's text: a new message to
/// understand is added here, with the transcript it was seen in under
/// `Tests/Fixtures/transcripts/`. Measured with Open MPI 4.1.4 (ORTE); the texts come from
/// its help files (`help-errmgr-base.txt`, `help-plm-base.txt`) and `orterun`.
enum OpenMPIMessage: Equatable, Sendable {
    /// "ORTE has lost communication with a remote daemon." (or "lost contact"): the start
    /// of a block that names the node in a later line ("Remote daemon: [[N,0],k] on node X").
    case lostDaemonBlock
    /// "Remote daemon: [[12345,0],2] on node bx-n3", inside the block above.
    case remoteDaemon(node: String)
    /// mpirun is aborting the job: "... has been aborted", "mpirun noticed that process rank
    /// ...", "abort is already in progress", and "ORTE was unable to reliably start one or
    /// more daemons" (which ORTE prints when an rsh agent ends with a failure at any time,
    /// also after its daemon started: a node crash that kills the agent first reads so).
    case aborting
    /// Anything else.
    case other

    static func classify(_ line: String) -> OpenMPIMessage {
        if line.contains("lost communication") || line.contains("lost contact") { return .lostDaemonBlock }
        if line.contains("Remote daemon") {
            if let r = line.range(of: "on node ") {
                let name = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { return .remoteDaemon(node: name) }
            }
            return .other
        }
        if line.contains("has been aborted") || line.contains("mpirun noticed that process rank")
            || line.contains("abort is already in progress") || line.contains("unable to reliably start") {
            return .aborting
        }
        return .other
    }
}

/// Node names reported lost in mpirun's own output: Open MPI's block "ORTE has lost
/// communication with a remote daemon ... Remote daemon: [[12345,0],2] on node bx-n3".
/// Nothing an rsh agent prints is trusted: ssh prints nothing of the kind (`AgentWatch`
/// judges an agent by its end instead).
func nodesNamedLost(inMpirunOutput lines: [String]) -> Set<String> {
    var result = Set<String>()
    var lostContext = false
    for line in lines {
        switch OpenMPIMessage.classify(line) {
        case .lostDaemonBlock: lostContext = true
        case .remoteDaemon(let node) where lostContext: result.insert(node)
        default: break
        }
    }
    return result
}

/// A line of a rank's output under `mpirun --tag-output`: `[JOBID,RANK]<stdout>:TEXT`
/// (orterun's `--tag-output`, Open MPI 4.1.4). The health gate checks many nodes with one
/// mpirun and tells their answers apart by it. Nil for any other line.
func tagOutputLine(_ line: Substring) -> (rank: Int, text: Substring)? {
    guard line.first == "[", let comma = line.firstIndex(of: ","), let close = line.firstIndex(of: "]"), comma < close,
          let rank = Int(line[line.index(after: comma)..<close]) else { return nil }
    let rest = line[line.index(after: close)...]
    for stream in ["<stdout>:", "<stderr>:"] where rest.hasPrefix(stream) { return (rank, rest.dropFirst(stream.count)) }
    return nil
}
