import BatonSystem

/// The payload of a heartbeat line: `SEQ [cpu=SECONDS delay=SECONDS]`, the wrapper's
/// sequence number and, when it could read them, the seconds its command (and two levels of
/// children) has spent on a CPU and waiting for one, since it started. The head's straggler
/// watch compares the ranks' busy time from it (docs/launch.md, "Stragglers").
public struct Heartbeat: Sendable, Equatable {
    public var sequence: Int
    public var cpu: Double?
    public var delay: Double?

    public init(sequence: Int, cpu: Double? = nil, delay: Double? = nil) {
        self.sequence = sequence
        self.cpu = cpu
        self.delay = delay
    }

    public var payload: String {
        guard let cpu, let delay else { return String(sequence) }
        return "\(sequence) cpu=\(fixedPoint(cpu, digits: 3)) delay=\(fixedPoint(delay, digits: 3))"
    }

    public static func parse(_ payload: String) -> Heartbeat? {
        let words = payload.split(separator: " ")
        guard let first = words.first, let seq = Int(first) else { return nil }
        var h = Heartbeat(sequence: seq)
        for w in words.dropFirst() {
            if w.hasPrefix("cpu=") { h.cpu = Double(w.dropFirst(4)) }
            if w.hasPrefix("delay=") { h.delay = Double(w.dropFirst(6)) }
        }
        return h
    }
}
