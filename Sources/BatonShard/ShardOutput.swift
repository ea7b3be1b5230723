#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import BatonSystem
import BatonTrainer
import Foundation

/// `write(2)`, named apart so methods called `write` do not shadow it.
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}

/// A file written under a temporary name and renamed into place on `commit()`, so a reader
/// never sees half a shard and a failed run leaves no file behind under the final name.
final class AtomicOutputFile {
    let path: String
    private let temporaryPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private static let flushThreshold = 1 << 20

    init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        // pid and a random tag: ranks on different hosts may write one shared directory.
        self.temporaryPath = (dir.isEmpty ? "" : dir + "/") + ".\(name).tmp.\(getpid()).\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 {
            throw ShardError(.writeFailed, "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(Self.flushThreshold)
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    /// Appends raw bytes (buffered; large writes go straight through).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count >= Self.flushThreshold {
            try flush()
            try writeAll(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.flushThreshold { try flush() }
    }

    func write(_ text: String) throws {
        var t = text
        try t.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func flush() throws {
        if buffer.isEmpty { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = posixWrite(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw ShardError(.writeFailed, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            p += n
            left -= n
        }
    }

    /// Flushes, closes and renames the file to its final name.
    func commit() throws {
        try flush()
        let rc = close(fd)
        fd = -1
        if rc != 0 {
            unlink(temporaryPath)
            throw ShardError(.writeFailed, "cannot close \(path): \(String(cString: strerror(errno)))")
        }
        if rename(temporaryPath, path) != 0 {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw ShardError(.writeFailed, "cannot rename \(temporaryPath) to \(path): \(message)")
        }
    }
}

/// The output directory of a plan: refuses one that holds a different plan.json, creates it
/// otherwise. Call `check` before writing anything, `create` just before the first file.
enum PlanDirectory {
    static let planFileName = "plan.json"

    static func encode<P: Encodable>(_ plan: P) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        var data = try encoder.encode(plan)
        data.append(0x0a)
        return data
    }

    /// Throws `.planConflict` when `directory/plan.json` exists and describes another plan,
    /// `.badArgument` when `directory` exists and is not a directory.
    static func check(_ directory: String, plan: Data) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) {
            if !isDir.boolValue {
                throw ShardError(.badArgument, "\(directory) exists and is not a directory; choose another output directory")
            }
        } else {
            return
        }
        let existingPath = directory + "/" + planFileName
        guard FileManager.default.fileExists(atPath: existingPath) else { return }
        guard let existing = FileManager.default.contents(atPath: existingPath) else {
            throw ShardError(.planConflict, "\(existingPath) exists but cannot be read; delete it or choose another output directory")
        }
        let old = try? JSONSerialization.jsonObject(with: existing) as? [String: Any]
        let new = try? JSONSerialization.jsonObject(with: plan) as? [String: Any]
        guard let old, let new else {
            throw ShardError(.planConflict, "\(existingPath) exists and is not a plan Baton can read; delete it or choose another output directory")
        }
        if canonical(old) == canonical(new) { return }
        // Name the top-level fields that differ, scalar ones with both values, most telling first.
        var differences: [String] = []
        let keys = Set(old.keys).union(new.keys).sorted { a, b in
            let late: Set<String> = ["ranks", "files", "algorithm", "dropped"]
            return late.contains(a) != late.contains(b) ? !late.contains(a) : a < b
        }
        for key in keys {
            let a = old[key].map(canonical), b = new[key].map(canonical)
            if a == b { continue }
            if let a, let b, a.count <= 40, b.count <= 40, !a.hasPrefix("["), !a.hasPrefix("{") {
                differences.append("\(key) \(a) there, \(b) here")
            } else {
                differences.append(key)
            }
        }
        throw ShardError(.planConflict, "\(existingPath) holds a different plan (\(differences.prefix(4).joined(separator: "; "))); delete \(directory) or choose another output directory")
    }

    /// JSON text of a decoded value with sorted keys: equal text, equal plan.
    private static func canonical(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) else {
            return "\(value)"
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func create(_ directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ShardError(.writeFailed, "cannot create directory \(directory): \(error.localizedDescription)")
        }
    }

    static func writePlan(_ data: Data, to directory: String) throws {
        let file = try AtomicOutputFile(path: directory + "/" + planFileName)
        try data.withUnsafeBytes { try file.write($0) }
        try file.commit()
    }
}
