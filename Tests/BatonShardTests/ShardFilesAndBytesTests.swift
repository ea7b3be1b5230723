import Foundation
import Testing
@testable import BatonTrainer
@testable import BatonShard

@Suite("File and byte-range sharding")
struct ShardFilesAndBytesTests {
    static func makeFiles(_ dir: ShardTempDir, _ contents: [[UInt8]]) throws -> [String] {
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        return try contents.enumerated().map { i, bytes in
            let path = dir.path + "/f\(i).dat"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    @Test func filesGoLargestFirstToTheLightestRankAndEachFileOnce() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let sizes = [10, 70, 30, 30, 50, 5, 60, 20]
        let paths = try Self.makeFiles(dir, sizes.map { [UInt8](repeating: 1, count: $0) })
        let plan = try FileShardPlan(paths: paths, world: 3)
        // LPT by hand: 70->0, 60->1, 50->2, 30->2 (80), 30->1 (90), 20->0 (90), 10->2 (90), 5->0 (95).
        #expect(plan.ranks.map(\.bytes) == [95, 90, 90])
        #expect(plan.ranks[0].files == [paths[1], paths[5], paths[7]])
        #expect(plan.ranks.flatMap(\.files).sorted() == paths.sorted())
        #expect(try FileShardPlan(paths: paths, world: 3).ranks == plan.ranks)
    }

    @Test func fewerFilesThanRanksIsAnErrorUnlessEmptyRanksAreAllowed() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let paths = try Self.makeFiles(dir, [[1], [2]])
        let e = #expect(throws: ShardError.self) { try FileShardPlan(paths: paths, world: 3) }
        #expect(e?.code == .tooFewFiles)
        let plan = try FileShardPlan(paths: paths, world: 3, allowEmpty: true)
        #expect(plan.ranks.map(\.files.count) == [1, 1, 0])
    }

    @Test func missingAndDuplicatedFilesAreNamedWithTheirListLine() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let paths = try Self.makeFiles(dir, [[1]])
        let list = dir.path + "/list.txt"
        try "# data\n\(paths[0])\n\n\(dir.path)/nope.dat\n".write(toFile: list, atomically: true, encoding: .utf8)
        let e = #expect(throws: ShardError.self) {
            try FileShardPlan(sources: try ShardInputs.readList(path: list).map { ($0.path, $0.origin) }, world: 1)
        }
        #expect(e?.code == .unreadableFile)
        #expect(e?.description.contains("list.txt:4") == true)
        let twice = #expect(throws: ShardError.self) { try FileShardPlan(paths: [paths[0], paths[0]], world: 1) }
        #expect(twice?.description.contains("listed twice") == true)
    }

    /// Random newline files: random line lengths, empty lines, some without a final newline,
    /// some empty. Returns the files and every record as (file index, start, end).
    static func randomRecordFiles(_ dir: ShardTempDir, rng: inout ShardTestRNG) throws -> ([String], [(Int, Int, Int)]) {
        var contents: [[UInt8]] = []
        var records: [(Int, Int, Int)] = []
        for f in 0..<Int.random(in: 1...4, using: &rng) {
            var bytes: [UInt8] = []
            let lines = Int.random(in: 0...40, using: &rng)
            for l in 0..<lines {
                let start = bytes.count
                let length = Bool.random(using: &rng) ? 0 : Int.random(in: 0...(Bool.random(using: &rng) ? 5 : 300), using: &rng)
                bytes += [UInt8](repeating: UInt8(ascii: "a") + UInt8(l % 26), count: length)
                let last = l == lines - 1
                if !(last && Bool.random(using: &rng)) { bytes.append(0x0a) }
                if bytes.count > start { records.append((f, start, bytes.count)) }
            }
            contents.append(bytes)
        }
        return (try makeFiles(dir, contents), records)
    }

    @Test func byteRangesCoverEveryRecordExactlyOnceOnRandomFiles() throws {
        var rng = ShardTestRNG(seed: 2026)
        for trial in 0..<60 {
            let dir = ShardTempDir()
            defer { dir.cleanUp() }
            let (paths, records) = try Self.randomRecordFiles(dir, rng: &rng)
            let world = Int.random(in: 1...20, using: &rng)
            let plan = try ByteRangeShardPlan(paths: paths, world: world, record: .newline)
            var owners = [Int](repeating: 0, count: records.count)
            for (r, ranges) in plan.ranges.enumerated() {
                for range in ranges {
                    let f = paths.firstIndex(of: range.file)!
                    for (i, rec) in records.enumerated() where rec.0 == f {
                        if rec.1 >= range.start && rec.2 <= range.end { owners[i] += 1 }
                        // A range never cuts through a record.
                        #expect(!(rec.1 < range.start && range.start < rec.2), "trial \(trial) rank \(r)")
                        #expect(!(rec.1 < range.end && range.end < rec.2), "trial \(trial) rank \(r)")
                    }
                }
            }
            #expect(owners.allSatisfy { $0 == 1 }, "trial \(trial): W=\(world)")
            #expect(plan.cuts.first == 0 && plan.cuts.last == plan.totalBytes)
        }
    }

    @Test func recordsLongerThanOneReadStayWhole() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        // Lines of 300 KB, 5 bytes, 150 KB: cuts land deep inside the long ones, so the
        // newline search needs several reads of growing size.
        let lines = [300_000, 5, 150_000, 0, 70_000]
        var bytes: [UInt8] = []
        var starts: [Int] = []
        for length in lines {
            starts.append(bytes.count)
            bytes += [UInt8](repeating: UInt8(ascii: "z"), count: length) + [0x0a]
        }
        let paths = try Self.makeFiles(dir, [bytes])
        let plan = try ByteRangeShardPlan(paths: paths, world: 7, record: .newline)
        #expect(plan.cuts.allSatisfy { $0 == bytes.count || starts.contains($0) })
        #expect(plan.readCount > 7)  // more than one read for some cut
        #expect(plan.bytesRead < bytes.count)
        let owned = plan.ranges.flatMap { $0 }.map { $0.end - $0.start }.reduce(0, +)
        #expect(owned == bytes.count)
    }

    @Test func byteRangesAreBalancedWhenRecordsAreSmall() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        var bytes: [UInt8] = []
        for i in 0..<20_000 { bytes += Array("line \(i)\n".utf8) }
        let paths = try Self.makeFiles(dir, [bytes])
        let plan = try ByteRangeShardPlan(paths: paths, world: 16, record: .newline)
        let sizes = (0..<16).map { plan.cuts[$0 + 1] - plan.cuts[$0] }
        #expect(sizes.max()! - sizes.min()! <= 22)  // each cut within one 11-byte line of the ideal
    }

    @Test func fixedRecordsCutOnRecordMultiplesAndRejectARemainder() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let paths = try Self.makeFiles(dir, [[UInt8](repeating: 0, count: 96), [UInt8](repeating: 0, count: 32)])
        let plan = try ByteRangeShardPlan(paths: paths, world: 3, record: .fixed(16))
        #expect(plan.cuts.allSatisfy { $0 % 16 == 0 })
        #expect(plan.cuts == [0, 48, 96, 128])
        #expect(plan.ranges[2] == [ByteRange(file: paths[1], start: 0, end: 32)])
        let e = #expect(throws: ShardError.self) { try ByteRangeShardPlan(paths: paths, world: 3, record: .fixed(20)) }
        #expect(e?.code == .badRecordSize)
        #expect(e?.description.contains("96 bytes, not a multiple of the record size 20") == true)
        #expect(throws: ShardError.self) { try RecordFormat(parsing: "fixed:x") }
        #expect(try RecordFormat(parsing: "fixed:8") == .fixed(8))
    }

    @Test func byteRangePlanWritesRangesWithFileStartAndExclusiveEnd() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let paths = try Self.makeFiles(dir, [Array("aa\nbb\ncc\n".utf8)])
        try ByteRangeShardPlan(paths: paths, world: 2, record: .newline).write(to: dir.path + "/out")
        let plan = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: dir.path + "/out/plan.json")!) as! [String: Any]
        let ranks = plan["ranks"] as! [[String: Any]]
        let first = (ranks[0]["ranges"] as! [[String: Any]])[0]
        #expect(first["file"] as? String == paths[0])
        #expect(first["start"] as? Int == 0 && first["end"] as? Int == 6)
        #expect(dir.exists("out/rank-1.json"))
    }
}
