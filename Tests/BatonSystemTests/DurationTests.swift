import Testing
import BatonSystem

@Suite struct DurationTests {
    @Test func durationsParseWithOrWithoutAUnitAndRefuseNegativesAndWords() {
        #expect(parseDuration("10s") == 10)
        #expect(parseDuration("500ms") == 0.5)
        #expect(parseDuration("2m") == 120)
        #expect(parseDuration("1.5") == 1.5)
        #expect(parseDuration("ten") == nil)
        #expect(parseDuration("-1s") == nil)
    }
}
