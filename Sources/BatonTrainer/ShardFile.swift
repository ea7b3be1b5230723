#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reads the per-rank index files `SampleShardPlan.write` produces (rank-<r>.npy or .json).
/// This is what a Swift trainer calls with `BATON_SHARD_FILE`.
public enum ShardFile {
    /// The sample ids of a rank-<r>.npy (int64; int32 accepted too) or rank-<r>.json file,
    /// padding entries included (see `readPaddingPositions`).
    public static func readIndices(path: String) throws -> [Int] {
        if path.hasSuffix(".json") {
            return try parseJSON(try readAll(path), path: path).indices
        }
        // Read the header, then the data straight into the result: one copy of the shard
        // in memory, not three (file bytes, Data, [Int]).
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw ShardError(.unreadableFile, "cannot read shard file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var head = [UInt8](repeating: 0, count: 4096)
        let got = try readFully(fd, into: &head, at: 0, path: path)
        head.removeSubrange(got...)
        if head.first == UInt8(ascii: "{") {
            return try parseJSON(try readAll(path), path: path).indices
        }
        let header = try Npy.parseHeader(head, path: path)
        let width: Int
        switch header.descr {
        case "<i8": width = 8
        case "<i4": width = 4
        default:
            throw ShardError(.badShardFile, "\(path) holds dtype \(header.descr); a shard file holds int64 ('<i8')")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ShardError(.unreadableFile, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        let room = (Int(st.st_size) - header.dataOffset) / width
        guard room >= header.count else {
            throw ShardError(.badShardFile, "\(path) is truncated: the header says \(header.count) entries, the file has room for \(max(room, 0))")
        }
        if width == 8 {
            var out = [Int](repeating: 0, count: header.count)
            try out.withUnsafeMutableBytes { raw in
                var done = 0
                while done < raw.count {
                    let n = pread(fd, raw.baseAddress! + done, raw.count - done, off_t(header.dataOffset + done))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { throw ShardError(.unreadableFile, "cannot read \(path): \(n < 0 ? String(cString: strerror(errno)) : "unexpected end of file")") }
                    done += n
                }
            }
            #if _endian(big)
            for i in out.indices { out[i] = Int(littleEndian: out[i]) }
            #endif
            return out
        }
        var narrow = [UInt8](repeating: 0, count: header.count * 4)
        let n = try readFully(fd, into: &narrow, at: header.dataOffset, path: path)
        guard n == narrow.count else { throw ShardError(.badShardFile, "\(path) is truncated") }
        return narrow.withUnsafeBytes { raw in
            (0..<header.count).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        }
    }

    /// Reads up to buffer.count bytes at offset; returns how many (fewer only at end of file).
    private static func readFully(_ fd: Int32, into buffer: inout [UInt8], at offset: Int, path: String) throws -> Int {
        try buffer.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pread(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw ShardError(.unreadableFile, "cannot read \(path): \(String(cString: strerror(errno)))") }
                if n == 0 { break }
                done += n
            }
            return done
        }
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
