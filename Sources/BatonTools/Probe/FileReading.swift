import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What reading a small sysfs/procfs file gave.
enum FileRead: Equatable {
    case text(String)
    case missing
    /// The file exists but reading it failed with this errno (sysfs answers EINVAL for
    /// unused GID attribute entries).
    case failed(Int32)

    var text: String? {
        if case .text(let t) = self { return t }
        return nil
    }
}

enum FileReading {
    /// Reads a small file in full (sysfs attributes are at most a page) and trims the
    /// trailing newline. Uses read(2) so that errno tells "absent" from "unreadable".
    static func read(_ path: String, limit: Int = 1 << 20) -> FileRead {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = errno
            return e == ENOENT || e == ENOTDIR ? .missing : .failed(e)
        }
        defer { close(fd) }
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(errno)
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return .text(text)
    }

    /// Names in a directory; nil when it does not exist or is not a directory.
    static func list(_ path: String) -> [String]? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return nil }
        return (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    static func errnoText(_ value: Int32) -> String {
        guard let text = strerror(value) else { return "errno \(value)" }
        return String(cString: text)
    }
}
