import Foundation

/// Reads the per-rank index files `SampleShardPlan.write` produces (rank-<r>.npy or .json).
/// This is what a Swift trainer calls with `BATON_SHARD_FILE`.
public enum ShardFile {
    /// The sample ids of a rank-<r>.npy (int64; int32 accepted too) or rank-<r>.json file,
    /// padding entries included (see `readPaddingPositions`).
    public static func readIndices(path: String) throws -> [Int] {
        let bytes = try readAll(path)
        if path.hasSuffix(".json") || bytes.first == UInt8(ascii: "{") {
            return try parseJSON(bytes, path: path).indices
        }
        let header = try Npy.parseHeader(bytes, path: path)
        let width: Int
        switch header.descr {
        case "<i8": width = 8
        case "<i4": width = 4
        default:
            throw ShardError(.badShardFile, "\(path) holds dtype \(header.descr); a shard file holds int64 ('<i8')")
        }
        guard bytes.count >= header.dataOffset + header.count * width else {
            throw ShardError(.badShardFile, "\(path) is truncated: the header says \(header.count) entries, the file has room for \((bytes.count - header.dataOffset) / width)")
        }
        var out = [Int](repeating: 0, count: header.count)
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + header.dataOffset
            for i in 0..<header.count {
                if width == 8 {
                    out[i] = Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
                } else {
                    out[i] = Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                }
            }
        }
        return out
    }

    /// Positions (within the shard) of padding entries: from rank-<r>.mask.npy next to a
    /// .npy shard, or the "padding" list of a .json shard. Empty when there are none.
    public static func readPaddingPositions(path: String) throws -> [Int] {
        if path.hasSuffix(".json") {
            return try parseJSON(try readAll(path), path: path).padding
        }
        let maskPath = path.hasSuffix(".npy") ? String(path.dropLast(4)) + ".mask.npy" : path + ".mask.npy"
        guard FileManager.default.fileExists(atPath: maskPath) else { return [] }
        let bytes = try readAll(maskPath)
        let header = try Npy.parseHeader(bytes, path: maskPath)
        guard header.descr == "|b1" || header.descr == "|u1" else {
            throw ShardError(.badShardFile, "\(maskPath) holds dtype \(header.descr); a padding mask holds bool ('|b1')")
        }
        guard bytes.count >= header.dataOffset + header.count else {
            throw ShardError(.badShardFile, "\(maskPath) is truncated")
        }
        return (0..<header.count).filter { bytes[header.dataOffset + $0] != 0 }
    }

    private static func readAll(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShardError(.unreadableFile, "cannot read shard file \(path): it is missing or unreadable")
        }
        return [UInt8](data)
    }

    private struct JSONShard: Decodable {
        struct Range: Decodable { var start: Int; var step: Int }
        var count: Int
        var range: Range?
        var indices: [Int]?
        var padding: [Int]?
    }

    private static func parseJSON(_ bytes: [UInt8], path: String) throws -> (indices: [Int], padding: [Int]) {
        let shard: JSONShard
        do {
            shard = try JSONDecoder().decode(JSONShard.self, from: Data(bytes))
        } catch {
            throw ShardError(.badShardFile, "\(path) is not a JSON shard Baton can read: \(error)")
        }
        if let r = shard.range {
            guard shard.count >= 0, r.step >= 1 else {
                throw ShardError(.badShardFile, "\(path): range needs count >= 0 and step >= 1")
            }
            return ((0..<shard.count).map { r.start + $0 * r.step }, [])
        }
        guard let indices = shard.indices else {
            throw ShardError(.badShardFile, "\(path) has neither \"range\" nor \"indices\"")
        }
        return (indices, shard.padding ?? [])
    }
}
