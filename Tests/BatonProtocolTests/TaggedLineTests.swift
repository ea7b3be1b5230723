import Testing
@testable import BatonProtocol

@Suite struct TaggedLineTests {
    @Test func encodeDecodeRoundTrip() {
        let line = TaggedLine(kind: .out, node: "n1", rank: 3, payload: "loss 0.5 \\ tab\there @ x")
        #expect(TaggedLine.decode(line.encoded) == line)
    }

    @Test func userTextThatLooksLikeATagStaysUserText() {
        let fake = "@baton/1 hb n9 9 0"
        let line = TaggedLine(kind: .out, node: "n1", rank: 0, payload: fake)
        let encoded = line.encoded
        // The payload holds no '@', so no chunk of it can start a line with the prefix.
        #expect(!encoded.dropFirst(TaggedLine.prefix.count).contains("@"))
        #expect(TaggedLine.decode(encoded)?.kind == .out)
        #expect(TaggedLine.decode(encoded)?.payload == fake)
    }

    @Test func controlCharactersAreEscaped() {
        let payload = "a\rb\u{1B}[31mc\u{7F}"
        let enc = TaggedLine.escape(payload)
        #expect(!enc.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
        #expect(TaggedLine.unescape(enc) == payload)
    }

    @Test(arguments: ["mpirun: hello", "@baton/2 hb n1 0 1", "@baton/1 zz n1 0 x", "@baton/1 hb n1 x 1", "@baton/1 hb n;1 0 1",
                      "@baton/1 out n1 0 bad\\q", "@baton/1 out n1 0 raw@at"])
    func malformedLinesAreNotTags(line: String) {
        #expect(TaggedLine.decode(line) == nil)
    }

    @Test func headMessagesRoundTrip() {
        for m in [HeadMessage.lease(attempt: 2, sequence: 7), .signal(attempt: 1, signal: 2), .checkpoint(attempt: 4)] {
            #expect(HeadMessage.decode(m.encoded) == m)
        }
        #expect(HeadMessage.decode("@baton/1 out n1 0 x") == nil)
    }
}
