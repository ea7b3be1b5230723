import Foundation
import Testing
@testable import digits_train

@Suite struct CheckpointTests {
    let sample = Checkpoint(hidden: 3, epoch: 2, consumed: 96, step: 45, parameters: [0.5, -1.25, 3], velocity: [0, 0.125, -2])

    @Test func encodeThenDecodeGivesTheSameState() throws {
        #expect(try Checkpoint.decode(sample.encode(), path: "x") == sample)
    }

    @Test func anyFlippedByteIsDetectedAndNotLoaded() {
        let bytes = sample.encode()
        for i in stride(from: 0, to: bytes.count, by: 7) {
            var damaged = bytes
            damaged[i] ^= 0x20
            #expect(throws: TrainError.self, "flipping byte \(i) went unnoticed") { try Checkpoint.decode(damaged, path: "x") }
        }
    }

    @Test func aTruncatedFileIsReportedWithItsPath() {
        let error = #expect(throws: TrainError.self) { try Checkpoint.decode(Array(sample.encode().prefix(20)), path: "/ck/checkpoint.bin") }
        #expect(error.map { "\($0)" }?.contains("/ck/checkpoint.bin") == true)
    }

    @Test func saveIsAtomicAndLoadReadsItBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ck-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Checkpoint.load(from: dir) == nil)
        try sample.save(in: dir)
        #expect(try Checkpoint.load(from: dir) == sample)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(leftovers == [Checkpoint.fileName], "no temporary file is left behind")
    }
}

@Suite struct NetworkTests {
    @Test func theSameSeedGivesTheSameInitialWeightsAndADifferentSeedDoesNot() {
        #expect(Network(hidden: 8, seed: 3).parameters == Network(hidden: 8, seed: 3).parameters)
        #expect(Network(hidden: 8, seed: 3).hash != Network(hidden: 8, seed: 4).hash)
    }

    @Test func aGradientStepLowersTheLossOnOneSample() {
        var net = Network(hidden: 8, seed: 1)
        let x = (0..<64).map { Double($0 % 5) / 4 }
        var gradient = [Double](repeating: 0, count: net.parameters.count)
        var scratch = [Double](repeating: 0, count: 2 * 8 + 10)
        func loss() -> Double {
            for i in gradient.indices { gradient[i] = 0 }
            return x.withUnsafeBufferPointer { xs in
                gradient.withUnsafeMutableBufferPointer { g in
                    scratch.withUnsafeMutableBufferPointer { s in net.accumulate(x: xs, label: 7, gradient: g, scratch: s).loss }
                }
            }
        }
        let before = loss()
        for i in net.parameters.indices { net.parameters[i] -= 0.05 * gradient[i] }
        #expect(loss() < before)
    }

    @Test func theSplitIsFixedAndDisjoint() {
        var x: [Double] = []
        for i in 0..<50 { x += [Double](repeating: Double(i), count: 64) }
        let data = DigitsData(x: x, y: (0..<50).map { $0 % 10 })
        let (a, b) = data.split(testFraction: 0.2)
        let (a2, _) = data.split(testFraction: 0.2)
        #expect(a.count == 40 && b.count == 10)
        #expect(a.x == a2.x)
        let trainRows = Set(stride(from: 0, to: a.x.count, by: 64).map { a.x[$0] })
        let testRows = Set(stride(from: 0, to: b.x.count, by: 64).map { b.x[$0] })
        #expect(trainRows.isDisjoint(with: testRows))
    }
}
