import Foundation
import Testing
@testable import BatonLaunch
@testable import BatonProtocol

@Suite struct AttemptTranscriptTests {
    /// Every event, with payloads a rank or mpirun might print, as the JSON the head writes
    /// and the reader (JSONSerialization) parses back to the same event.
    @Test(arguments: [
        "plain", "quote \" and backslash \\ and slash /", "tab\tnewline\nreturn\r",
        "control \u{01}\u{1f} bell \u{07}", "unicode é 漢字 🚀", "", "{\"loss\": 0.5, \"consumed\": 1280}",
    ])
    func linesAreJSONThatReadsBackAsTheSameEvent(_ text: String) throws {
        let events: [AttemptEvent] = [
            .tagged(TaggedLine(kind: .metric, node: "n1", rank: 3, payload: text)),
            .mpirun(text), .agentEnded(node: text), .interrupt, .spareReady(node: "n2"),
            .mpirunExited(.exited(3)), .mpirunExited(.signaled(9)), .mpirunExited(nil), .tick,
        ]
        for (i, event) in events.enumerated() {
            let time = 1.5 + Double(i) * 0.000_001
            let line = AttemptTranscript.line(event, at: time)
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect((obj["t"] as? NSNumber)?.doubleValue == time)
            // Keys sorted, as before the writer was hand-made.
            #expect(line.hasPrefix(event.isTimeFirst ? #"{"t":"# : "{\""), "\(line)")
        }
        let hosts = try #require(HostList.parseNodesSpec("n1:1,n2:1"))
        let t = AttemptTranscript(hosts: hosts, settings: .init(heartbeatTimeout: 5, startupTimeout: 30, nodeLossWindow: 1, grace: 2), events: events.enumerated().map { (1.5 + Double($0.offset) * 0.000_001, $0.element) })
        let text = ([t.headerLine()] + t.events.map { AttemptTranscript.line($0.event, at: $0.time) }).joined(separator: "\n")
        #expect(try AttemptTranscript.decode(text) == t)
    }
}

private extension AttemptEvent {
    /// Sorted keys put "t" first only before "tagged" and "tick".
    var isTimeFirst: Bool {
        switch self { case .tagged, .tick: true; default: false }
    }
}
