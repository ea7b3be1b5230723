import Foundation
import Testing
@testable import BatonTrainer
@testable import BatonShard

@Suite("Shard files on disk")
struct ShardWriteTests {
    @Test func npyFilesRoundTripThroughTheReaderForEveryRank() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let plan = try SampleShardPlan(count: 200_003, world: 7, shuffle: true, seed: 3, epoch: 1, consumed: 11)
        try plan.write(to: dir.path)
        for r in 0..<7 {
            #expect(try ShardFile.readIndices(path: dir.path + "/rank-\(r).npy") == plan.indices(rank: r))
        }
        #expect(dir.exists("plan.json"))
        #expect(try SampleShardPlan(planFile: dir.path + "/plan.json") == plan)
    }

    @Test func npyHeaderIsWhatNumpyWritesAlignedTo64Bytes() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        try SampleShardPlan(count: 5, world: 1).write(to: dir.path)
        let bytes = [UInt8](FileManager.default.contents(atPath: dir.path + "/rank-0.npy")!)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        #expect(bytes.count == 10 + headerLength + 5 * 8)
        #expect(Array(bytes[0..<8]) == [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }"))
        #expect(header.hasSuffix(" \n"))
        #expect(bytes[10 + headerLength + 8 * 4] == 4)  // little-endian int64 4 at position 4
    }

    @Test func jsonWritesARangeWhenTheShardIsOneAndIndicesOtherwise() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let plain = try SampleShardPlan(count: 100, world: 3, consumed: 10)
        try plain.write(to: dir.path + "/plain", format: .json)
        let text = String(decoding: FileManager.default.contents(atPath: dir.path + "/plain/rank-2.json")!, as: UTF8.self)
        #expect(text.contains("\"range\": {\"start\": 12, \"step\": 3}"))
        #expect(try ShardFile.readIndices(path: dir.path + "/plain/rank-2.json") == plain.indices(rank: 2))

        let shuffled = try SampleShardPlan(count: 100, world: 3, shuffle: true, seed: 1, policy: .pad)
        try shuffled.write(to: dir.path + "/shuffled", format: .json)
        for r in 0..<3 {
            let path = dir.path + "/shuffled/rank-\(r).json"
            #expect(try ShardFile.readIndices(path: path) == shuffled.indices(rank: r))
            #expect(try ShardFile.readPaddingPositions(path: path) == (r == 0 ? [] : [33]))
        }
    }

    @Test func padPolicyWritesAMaskMarkingOnlyThePaddingEntries() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let plan = try SampleShardPlan(count: 10, world: 4, shuffle: true, policy: .pad)
        try plan.write(to: dir.path)
        for r in 0..<4 {
            let path = dir.path + "/rank-\(r).npy"
            #expect(try ShardFile.readIndices(path: path).count == 3)
            #expect(try ShardFile.readPaddingPositions(path: path) == (r < 2 ? [] : [2]))
        }
    }

    @Test func limitWritesOnlyTheFirstEntriesOfEachShard() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let plan = try SampleShardPlan(count: 10_000_000_000, world: 1024, shuffle: true, seed: 1)
        try plan.write(to: dir.path, ranks: [0], format: .npy, limit: 1000)
        let got = try ShardFile.readIndices(path: dir.path + "/rank-0.npy")
        #expect(got == (0..<1000).map { plan.sample(rank: 0, position: $0) })
        #expect(!dir.exists("rank-1.npy"))
    }

    @Test func droppedSamplesAreListedInPlanJSON() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let plan = try SampleShardPlan(count: 11, world: 4, shuffle: true, seed: 8, policy: .drop)
        try plan.write(to: dir.path)
        let json = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: dir.path + "/plan.json")!) as! [String: Any]
        #expect((json["dropped"] as? [Int]) == plan.dropped)
        #expect(plan.dropped.count == 3)
        #expect((json["ranks"] as? [[String: Any]])?.map { $0["count"] as? Int } == [2, 2, 2, 2])
    }

    @Test func writingTheSamePlanAgainIsAllowedButADifferentPlanIsRefused() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        try SampleShardPlan(count: 100, world: 4).write(to: dir.path, ranks: [0])
        try SampleShardPlan(count: 100, world: 4).write(to: dir.path, ranks: [1])
        #expect(dir.exists("rank-0.npy") && dir.exists("rank-1.npy"))
        let error = #expect(throws: ShardError.self) {
            try SampleShardPlan(count: 100, world: 8).write(to: dir.path, ranks: [5])
        }
        #expect(error?.code == .planConflict)
        #expect(error?.description.contains("world 4 there, 8 here") == true)
        #expect(!dir.exists("rank-5.npy"))
    }

    @Test func aRankOutsideTheWorldIsRefusedAndNothingIsWritten() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        let error = #expect(throws: ShardError.self) {
            try SampleShardPlan(count: 100, world: 4).write(to: dir.path, ranks: [4])
        }
        #expect(error?.description.contains("rank 4 is not below the world size 4") == true)
        #expect(!dir.exists())
    }

    @Test func readerRejectsFilesThatAreNotShards() throws {
        let dir = ShardTempDir()
        defer { dir.cleanUp() }
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir.path + "/x.npy", contents: Data("hello".utf8))
        #expect(throws: ShardError.self) { try ShardFile.readIndices(path: dir.path + "/x.npy") }
        #expect(throws: ShardError.self) { try ShardFile.readIndices(path: dir.path + "/missing.npy") }
        var f64 = Npy.header(descr: "<f8", count: 1)
        f64 += [UInt8](repeating: 0, count: 8)
        FileManager.default.createFile(atPath: dir.path + "/f.npy", contents: Data(f64))
        let e = #expect(throws: ShardError.self) { try ShardFile.readIndices(path: dir.path + "/f.npy") }
        #expect(e?.description.contains("<f8") == true)
        var short = Npy.header(descr: "<i8", count: 5)
        short += [UInt8](repeating: 0, count: 16)
        FileManager.default.createFile(atPath: dir.path + "/short.npy", contents: Data(short))
        let t = #expect(throws: ShardError.self) { try ShardFile.readIndices(path: dir.path + "/short.npy") }
        #expect(t?.description.contains("truncated") == true)
    }
}
