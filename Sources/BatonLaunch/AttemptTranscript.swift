import BatonProtocol
import BatonSystem
import Foundation

/// What the head saw during one attempt, as JSON lines: a header with the hosts and the
/// classifier's settings, then every `AttemptEvent` with its time in seconds since the
/// attempt started (`RUN/attempts/attempt-N.transcript.jsonl`). Replaying it through a
/// `LossClassifier` gives the verdict the head reached, so a run that went wrong in the
/// field becomes a unit test (`Tests/Fixtures/transcripts/`).
struct AttemptTranscript: Sendable, Equatable {
    var hosts: HostList
    var settings: LossClassifier.Settings
    var events: [(time: Double, event: AttemptEvent)]

    init(hosts: HostList, settings: LossClassifier.Settings, events: [(time: Double, event: AttemptEvent)] = []) {
        self.hosts = hosts
        self.settings = settings
        self.events = events
    }

    static func == (a: AttemptTranscript, b: AttemptTranscript) -> Bool {
        a.hosts == b.hosts && a.settings == b.settings && a.events.count == b.events.count
            && zip(a.events, b.events).allSatisfy { $0.time == $1.time && $0.event == $1.event }
    }

    struct Header: Codable {
        var transcript: Int
        var hosts: String
        var settings: LossClassifier.Settings
    }

    /// Rank output is kept to this many characters: it only ever counts as a sign of life.
    static let outputPayloadLimit = 80

    func headerLine() -> String {
        let header = Header(transcript: 1, hosts: hosts.hosts.map { "\($0.name):\($0.slots)" }.joined(separator: ","), settings: settings)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(header)) ?? Data(), as: UTF8.self)
    }

    /// One event as a JSON line, keys sorted. Written by hand: every line into the head goes
    /// through here, and JSONSerialization (a dictionary of `Any`, dynamic casts) was a fifth
    /// of the head's CPU.
    static func line(_ event: AttemptEvent, at time: Double) -> String {
        let t = "\((time * 1_000_000).rounded() / 1_000_000)"
        switch event {
        case .tagged(var tl):
            if tl.kind == .out || tl.kind == .err { tl.payload = String(tl.payload.prefix(outputPayloadLimit)) }
            return #"{"t":"# + t + #","tagged":"# + jsonString(tl.encoded) + "}"
        case .mpirun(let line): return #"{"mpirun":"# + jsonString(line) + #","t":"# + t + "}"
        case .agentEnded(let node): return #"{"agentEnded":"# + jsonString(node) + #","t":"# + t + "}"
        case .interrupt: return #"{"interrupt":true,"t":"# + t + "}"
        case .spareReady(let node): return #"{"spareReady":"# + jsonString(node) + #","t":"# + t + "}"
        case .mpirunExited(let status):
            let exit: String
            switch status {
            case .exited(let c)?: exit = #"{"code":\#(c)}"#
            case .signaled(let s)?: exit = #"{"signal":\#(s)}"#
            case nil: exit = "null"
            }
            return #"{"exit":"# + exit + #","t":"# + t + "}"
        case .tick: return #"{"t":"# + t + #","tick":true}"#
        }
    }

    /// `text` as a JSON string literal (RFC 8259: quote, backslash and control characters
    /// escaped; everything else as it is, UTF-8).
    static func jsonString(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count + 2)
        out.append(UInt8(ascii: "\""))
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array(#"\u00"#.utf8) + [hex[Int(b >> 4)], hex[Int(b & 0xf)]]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

    struct DecodeError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    static func decode(_ text: String) throws -> AttemptTranscript {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).makeIterator()
        guard let first = lines.next(), let header = try? JSONDecoder().decode(Header.self, from: Data(first.utf8)) else {
            throw DecodeError(line: 1, message: "no transcript header")
        }
        guard let hosts = HostList.parseNodesSpec(header.hosts) else { throw DecodeError(line: 1, message: "bad hosts \(header.hosts)") }
        var t = AttemptTranscript(hosts: hosts, settings: header.settings)
        var n = 1
        while let line = lines.next() {
            n += 1
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let time = (obj["t"] as? NSNumber)?.doubleValue else { throw DecodeError(line: n, message: "not an event") }
            let event: AttemptEvent
            if let s = obj["tagged"] as? String, let tl = TaggedLine.decode(s) { event = .tagged(tl) }
            else if let s = obj["mpirun"] as? String { event = .mpirun(s) }
            else if let s = obj["agentEnded"] as? String { event = .agentEnded(node: s) }
            else if obj["interrupt"] != nil { event = .interrupt }
            else if let s = obj["spareReady"] as? String { event = .spareReady(node: s) }
            else if obj["tick"] != nil { event = .tick }
            else if obj["note"] != nil { continue }
            else if let e = obj["exit"] {
                if let d = e as? [String: Any], let c = (d["code"] as? NSNumber)?.int32Value { event = .mpirunExited(.exited(c)) }
                else if let d = e as? [String: Any], let s = (d["signal"] as? NSNumber)?.int32Value { event = .mpirunExited(.signaled(s)) }
                else { event = .mpirunExited(nil) }
            } else { throw DecodeError(line: n, message: "unknown event") }
            t.events.append((time, event))
        }
        return t
    }

    /// Feeds the events to a fresh classifier in order, ticking at every deadline it names
    /// in between (as the head's loop wakes up by then), and returns every action it took,
    /// with when. Stops at the first final action, or with the events.
    func replay() -> [(time: Double, action: LossAction)] {
        var classifier = LossClassifier(hosts: hosts, settings: settings, start: 0)
        var actions: [(Double, LossAction)] = []
        func take(_ a: LossAction?, _ t: Double) -> Bool {
            guard let a else { return false }
            actions.append((t, a))
            return classifier.isFinished
        }
        for (time, event) in events {
            while let d = classifier.nextDeadline(), d < time {
                // Strictly after the deadline: the rules compare with `>`.
                if take(classifier.handle(.tick, at: d + 0.001), d + 0.001) { return actions }
            }
            if take(classifier.handle(event, at: time), time) { return actions }
        }
        return actions
    }
}

/// Writes a transcript as the attempt runs: appended in batches (the runner flushes at
/// least every second and at the end), so a head that is killed leaves what it saw.
final class TranscriptWriter {
    let fd: Int32
    let start: Double
    var buffer = ""

    init?(path: String, header: String, start: Double) {
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        self.start = start
        buffer = header + "\n"
    }

    deinit {
        flush()
        close(fd)
    }

    func record(_ event: AttemptEvent, at now: Double) {
        buffer += AttemptTranscript.line(event, at: now - start) + "\n"
        if buffer.utf8.count > 64 * 1024 { flush() }
    }

    /// A line for people reading the transcript, not for the classifier (a replay skips it).
    func note(_ fields: [String: Any], at now: Double) {
        var obj = fields
        obj["t"] = ((now - start) * 1_000_000).rounded() / 1_000_000
        guard let data = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return }
        buffer += String(decoding: data, as: UTF8.self) + "\n"
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        _ = writeAll(fd: fd, buffer)
        buffer = ""
    }
}
