import Testing
@testable import BatonSystem

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

@Suite struct DurationFormatTests {
    @Test func compactDurationsReadAsEventsShowThem() {
        #expect(formatDuration(0.85) == "850ms")
        #expect(formatDuration(12.34) == "12.3s")
        #expect(formatDuration(245) == "4m05s")
        #expect(formatDuration(3720) == "1h02m")
    }

    @Test func argumentDurationsAreReadBackExactly() {
        for v in [30.0, 1.5, 0.25, 10] {
            #expect(parseDuration(formatDuration(v, .argument)) == v)
        }
        #expect(formatDuration(30, .argument) == "30s")
        #expect(formatDuration(1.5, .argument) == "1500ms")
    }

    @Test func measuredSecondsAndAgesKeepTheirFormerText() {
        #expect(formatDuration(2.345, .seconds(digits: 1)) == "2.3 s")
        #expect(formatDuration(0.5, .seconds(digits: 2)) == "0.50 s")
        #expect(formatDuration(42.9, .coarse) == "42 s")
        #expect(formatDuration(300, .coarse) == "5 min")
        #expect(formatDuration(9000, .coarse) == "2.5 h")
        #expect(formatDuration(-3, .coarse) == "0 s")
    }
}

@Suite struct AbsolutePathTests {
    @Test func relativePathsJoinTheDirectoryAndDotsResolveByName() {
        #expect(absolutePath("runs/a", from: "/work") == "/work/runs/a")
        #expect(absolutePath("./runs//a/", from: "/work") == "/work/runs/a")
        #expect(absolutePath("../b/../c", from: "/work/x") == "/work/c")
        #expect(absolutePath("/abs/./p/..", from: "/work") == "/abs")
        #expect(absolutePath("/..") == "/")
        #expect(absolutePath("x") == currentDirectory() + "/x")
    }
}
