import BatonTrainer
import CZlib
import Foundation

/// The digits data set: 8x8 images scaled to [0, 1], labels 0...9.
struct DigitsData {
    static let features = 64
    static let classes = 10

    /// Row-major features, `count` x 64.
    var x: [Double]
    var y: [Int]
    var count: Int { y.count }

    /// Reads `digits.csv.gz` (or a plain .csv): 65 integers a row, pixels 0...16 then the
    /// label. A bad row is an error naming the file and line.
    static func load(path: String) throws -> DigitsData {
        let text = try readText(path: path)
        var x: [Double] = []
        var y: [Int] = []
        var line = 0
        for row in text.split(separator: "\n", omittingEmptySubsequences: false) {
            line += 1
            if row.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
            let fields = row.split(separator: ",")
            guard fields.count == features + 1,
                let values = Optional(fields.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }),
                values.count == features + 1
            else {
                throw TrainError.badData("\(path):\(line): expected \(features + 1) comma-separated integers")
            }
            guard values[features] >= 0, values[features] < classes else {
                throw TrainError.badData("\(path):\(line): label \(values[features]) is not a digit 0...9")
            }
            x += values[0..<features].map { Double($0) / 16.0 }
            y.append(values[features])
        }
        guard !y.isEmpty else { throw TrainError.badData("\(path): no rows") }
        return DigitsData(x: x, y: y)
    }

    static func readText(path: String) throws -> String {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TrainError.badData("\(path): no such readable file (pass --data PATH)")
        }
        guard path.hasSuffix(".gz") else { return try String(contentsOfFile: path, encoding: .utf8) }
        guard let gz = gzopen(path, "rb") else { throw TrainError.badData("\(path): cannot open") }
        defer { gzclose(gz) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(gz, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw TrainError.badData("\(path): not a valid gzip file") }
            if n == 0 { break }
            bytes += chunk[0..<Int(n)]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A fixed split: rows ordered by a seeded shuffle, the first `testFraction` of them
    /// the test set. The split seed is constant, so every run and every config sees the
    /// same test set whatever its training seed.
    func split(testFraction: Double, seed: UInt64 = 20_261_129) -> (train: DigitsData, test: DigitsData) {
        var order = Array(0..<count)
        var rng = SplitMix64(seed: seed)
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        let testCount = Int((Double(count) * testFraction).rounded())
        func subset(_ rows: ArraySlice<Int>) -> DigitsData {
            var sx: [Double] = []
            sx.reserveCapacity(rows.count * Self.features)
            for r in rows { sx += x[(r * Self.features)..<((r + 1) * Self.features)] }
            return DigitsData(x: sx, y: rows.map { y[$0] })
        }
        return (subset(order[testCount...]), subset(order[..<testCount]))
    }
}

enum TrainError: Error, CustomStringConvertible {
    case badData(String)
    case badCheckpoint(String)
    case badShard(String)
    case weightsDiverged(String)
    case usage(String)

    var description: String {
        switch self {
        case .badData(let m): return "data: \(m)"
        case .badCheckpoint(let m): return "checkpoint: \(m)"
        case .badShard(let m): return "shard: \(m)"
        case .weightsDiverged(let m): return "weights differ across ranks: \(m)"
        case .usage(let m): return m
        }
    }
}
