import BatonTrainer
import Foundation

// The writer's half of `SampleShardPlan` (the plan and its order live in BatonTrainer, which
// trainers link): the per-rank index files and plan.json a launch hands its ranks.
extension SampleShardPlan {
    /// Writes DIR/rank-<r>.npy (int64, `numpy.load`-able) or .json for each rank in `ranks`
    /// (all ranks when nil), plus DIR/plan.json. With `.pad`, also DIR/rank-<r>.mask.npy
    /// (bool, true where the entry is padding) in npy format. `limit` writes only each
    /// shard's first entries (plan.json records it).
    ///
    /// Throws before writing anything when a rank is out of range or DIR holds another plan.
    public func write(to directory: String, ranks: [Int]? = nil, format: ShardFormat = .npy) throws {
        try write(to: directory, ranks: ranks, format: format, limit: nil)
    }

    public func write(to directory: String, ranks: [Int]?, format: ShardFormat, limit: Int?) throws {
        let selected = ranks ?? Array(0..<world)
        for r in selected where r < 0 || r >= world {
            throw ShardError(.badArgument, "rank \(r) is not below the world size \(world)")
        }
        if let limit, limit < 0 {
            throw ShardError(.badArgument, "limit is \(limit); it must be 0 or more")
        }
        let planData = try PlanDirectory.encode(planDescription(format: format, limit: limit))
        try PlanDirectory.check(directory, plan: planData)
        try PlanDirectory.create(directory)
        for r in selected {
            let n = min(count(rank: r), limit ?? Int.max)
            switch format {
            case .npy: try writeNpy(rank: r, count: n, directory: directory)
            case .json: try writeJSON(rank: r, count: n, directory: directory)
            }
        }
        try PlanDirectory.writePlan(planData, to: directory)
    }

    /// Name of rank's index file inside the output directory.
    static func fileName(rank: Int, format: ShardFormat) -> String { "rank-\(rank).\(format.fileExtension)" }

    private static let chunk = 1 << 16  // 512 KiB of int64 per JSON chunk
    /// 8 MiB of int64 per .npy write: big enough to split over threads, small next to the
    /// 800 MB that numpy's permutation of 10^8 holds.
    private static let npyChunk = 1 << 20

    private func writeNpy(rank: Int, count n: Int, directory: String) throws {
        let file = try AtomicOutputFile(path: directory + "/" + Self.fileName(rank: rank, format: .npy))
        try file.write(Npy.header(descr: "<i8", count: n))
        var buffer = [Int64](repeating: 0, count: Swift.min(Self.npyChunk, n))
        var done = 0
        while done < n {
            let k = Swift.min(Self.npyChunk, n - done)
            try buffer.withUnsafeMutableBufferPointer { b in
                let part = UnsafeMutableBufferPointer(rebasing: b[0..<k])
                parallelFill(rank: rank, from: done, into: part)
                #if _endian(big)
                for i in 0..<k { part[i] = part[i].littleEndian }
                #endif
                try file.write(UnsafeRawBufferPointer(part))
            }
            done += k
        }
        try file.commit()
        if policy == .pad {
            let mask = try AtomicOutputFile(path: directory + "/rank-\(rank).mask.npy")
            try mask.write(Npy.header(descr: "|b1", count: n))
            let real = sampleCount(rank: rank)
            try mask.write([UInt8](repeating: 0, count: Swift.min(real, n)))
            if n > real { try mask.write([UInt8](repeating: 1, count: n - real)) }
            try mask.commit()
        }
    }

    private func writeJSON(rank: Int, count n: Int, directory: String) throws {
        let file = try AtomicOutputFile(path: directory + "/" + Self.fileName(rank: rank, format: .json))
        try file.write("{\"rank\": \(rank), \"count\": \(n)")
        if isRange(rank: rank) {
            try file.write(", \"range\": {\"start\": \(consumed + rank), \"step\": \(world)}}\n")
        } else {
            try file.write(", \"indices\": [")
            var buffer = [Int64](repeating: 0, count: Swift.min(Self.chunk, n))
            var text: [UInt8] = []
            text.reserveCapacity(Self.chunk * 12)
            var done = 0
            while done < n {
                let k = Swift.min(Self.chunk, n - done)
                buffer.withUnsafeMutableBufferPointer { b in
                    fill(rank: rank, from: done, into: UnsafeMutableBufferPointer(rebasing: b[0..<k]))
                }
                text.removeAll(keepingCapacity: true)
                for i in 0..<k {
                    if done + i > 0 { text.append(UInt8(ascii: ",")) }
                    appendDecimal(buffer[i], to: &text)
                }
                try file.write(text)
                done += k
            }
            try file.write("]")
            let real = sampleCount(rank: rank)
            let padding = real < n ? Array(real..<n) : []
            try file.write(", \"padding\": [\(padding.map(String.init).joined(separator: ","))]}\n")
        }
        try file.commit()
    }

    private func appendDecimal(_ value: Int64, to text: inout [UInt8]) {
        var v = UInt64(value)  // sample ids are never negative
        if v == 0 { text.append(UInt8(ascii: "0")); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 { d[n] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; n += 1 }
            for i in stride(from: n - 1, through: 0, by: -1) { text.append(d[i]) }
        }
    }
}
