import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Training state saved at the end of each epoch (and every `--checkpoint-every` steps):
/// weights, optimizer state, epoch and the count of this epoch's samples already used.
///
/// File layout (little-endian): magic "DIGITCK1", hidden, epoch, consumed, step,
/// parameter count (UInt64 each), parameters, velocity (Double each), then an FNV-1a
/// checksum of everything before it. Written to a temporary file, flushed, then renamed,
/// so a crash leaves the previous checkpoint or the new one, never half of one.
struct Checkpoint: Equatable {
    var hidden: Int
    var epoch: Int
    var consumed: Int
    var step: Int
    var parameters: [Double]
    var velocity: [Double]

    static let fileName = "checkpoint.bin"
    static let magic = Array("DIGITCK1".utf8)

    func encode() -> [UInt8] {
        var out = Self.magic
        for v in [hidden, epoch, consumed, step, parameters.count] { append(UInt64(v), to: &out) }
        for array in [parameters, velocity] {
            array.withUnsafeBytes { out += $0 }
        }
        append(out.withUnsafeBytes { fnv1a(bytes: $0) }, to: &out)
        return out
    }

    static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
        let header = magic.count + 5 * 8
        guard bytes.count >= header + 8, Array(bytes[0..<magic.count]) == magic else {
            throw TrainError.badCheckpoint("\(path) is not a digits-train checkpoint (bad magic or too short: \(bytes.count) bytes); not loaded")
        }
        let stored = read(bytes, at: bytes.count - 8)
        let actual = bytes[0..<(bytes.count - 8)].withUnsafeBytes { fnv1a(bytes: $0) }
        guard stored == actual else {
            throw TrainError.badCheckpoint(
                "\(path) is corrupt (checksum \(hex(actual)) does not match the stored \(hex(stored))); not loaded. Delete it to start over")
        }
        let fields = (0..<5).map { Int(read(bytes, at: magic.count + 8 * $0)) }
        let n = fields[4]
        guard bytes.count == header + 2 * n * 8 + 8 else {
            throw TrainError.badCheckpoint("\(path): length \(bytes.count) does not fit \(n) parameters; not loaded")
        }
        func doubles(at offset: Int) -> [Double] {
            (0..<n).map { Double(bitPattern: read(bytes, at: offset + 8 * $0)) }
        }
        return Checkpoint(
            hidden: fields[0], epoch: fields[1], consumed: fields[2], step: fields[3],
            parameters: doubles(at: header), velocity: doubles(at: header + 8 * n))
    }

    /// Writes atomically: temporary file, fsync, rename, fsync of the directory.
    func save(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = directory + "/" + Self.fileName
        let temporary = directory + "/.\(Self.fileName).tmp.\(getpid())"
        let bytes = encode()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainError.badCheckpoint("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = bytes.withUnsafeBytes { b -> Bool in
            var done = 0
            while done < b.count {
                let w = write(fd, b.baseAddress! + done, b.count - done)
                if w < 0 { if errno == EINTR { continue }; return false }
                done += w
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, final) == 0 else {
            unlink(temporary)
            throw TrainError.badCheckpoint("cannot write \(final): \(String(cString: strerror(errno)))")
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// The checkpoint in `directory`, nil when there is none; a damaged one throws.
    static func load(from directory: String) throws -> Checkpoint? {
        let path = directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainError.badCheckpoint("\(path) exists but cannot be read; not loaded")
        }
        return try decode([UInt8](data), path: path)
    }
}

private func append(_ v: UInt64, to out: inout [UInt8]) {
    withUnsafeBytes(of: v.littleEndian) { out += $0 }
}

private func read(_ bytes: [UInt8], at offset: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    return v
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
