import Testing
@testable import BatonTools

@Suite struct SelftestCheckerTests {
    @Test func identicalBuffersHaveNoMismatch() {
        #expect(firstMismatch(expected: [1, 2, 3] as [Int32], got: [1, 2, 3]) == nil)
        #expect(firstMismatch(expected: [] as [Double], got: []) == nil)
    }

    @Test func firstDifferingElementIsNamedWithBothValues() {
        let m = firstMismatch(expected: [1, 2, 3, 4] as [Int16], got: [1, 2, 9, 5])
        #expect(m == Mismatch(index: 2, expected: "3", got: "9"))
    }

    @Test func aShortResultIsAMismatchAtItsEnd() {
        let m = firstMismatch(expected: [1.0, 2.0] as [Double], got: [1.0])
        #expect(m?.index == 1)
        #expect(m?.got == "(missing)")
    }

    @Test func negativeZeroIsNotSilentlyEqualToZeroBitwiseButIsByValue() {
        // The fast path compares bytes; the slow path then compares values, so -0.0 and
        // 0.0 (equal values) report no element: nil means equal by value.
        #expect(firstMismatch(expected: [0.0] as [Double], got: [-0.0]) == nil)
    }

    @Test func integerReductionsWrapLikeC() {
        #expect(Int8.combine(127, 1, .sum) == -128)
        #expect(UInt8.combine(16, 16, .product) == 0)
        #expect(Int32.combine(0, 5, .logicalOr) == 1)
        #expect(UInt16.combine(0b1100, 0b1010, .bitwiseAnd) == 0b1000)
    }

    @Test func matrixMarksAFailedCallAndTypeOnly() {
        let results = [
            SelftestResult(call: "bcast", type: "int8", count: 1, failure: nil),
            SelftestResult(call: "bcast", type: "int8", count: 7, failure: "rank 1: first wrong element 3: expected 1, got 2"),
            SelftestResult(call: "bcast", type: "double", count: 7, failure: nil),
        ]
        let text = SelftestReport.matrix(results, counts: [.elements(1), .elements(7)])
        let row = text.split(separator: "\n").first { $0.hasPrefix("bcast") }
        #expect(row?.contains("FAIL") == true)
        #expect(row?.split(separator: " ").last == "ok")
        #expect(SelftestReport.failures(results) == ["FAIL bcast type=int8 count=7: rank 1: first wrong element 3: expected 1, got 2"])
    }
}
