// Glibc only: baton-exec, which every rank starts, links this module.
#if canImport(Glibc)
import Glibc
#endif

/// The working directory of this process.
public func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    return getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
}

/// The one way to make a path absolute: joined to `directory` (the working directory unless
/// given) when relative, then `.`, `..`, repeated and trailing slashes resolved by name.
/// Symlinks are kept, as `URL.standardizedFileURL` keeps them (a run directory is named the
/// way it was given; `NSString.standardizingPath` would resolve them).
public func absolutePath(_ path: String, from directory: String? = nil) -> String {
    let full = path.hasPrefix("/") ? path : (directory ?? currentDirectory()) + "/" + path
    var parts: [Substring] = []
    for part in full.split(separator: "/") {
        switch part {
        case ".": continue
        case "..": if !parts.isEmpty { parts.removeLast() }
        default: parts.append(part)
        }
    }
    return "/" + parts.joined(separator: "/")
}

/// The directory part of `path` (what NSString.deletingLastPathComponent gives for an absolute path).
public func parentDirectory(_ path: String) -> String {
    var p = Substring(path)
    while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
    guard let slash = p.lastIndex(of: "/") else { return "" }
    return slash == p.startIndex ? "/" : String(p[..<slash])
}

/// The bytes of the file at `path` from byte `offset` to its end; nil when it cannot be opened.
public func readFile(_ path: String, from offset: UInt64) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 64 * 1024)
    var at = off_t(offset)
    while true {
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, at) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        result.append(contentsOf: buf[0..<n])
        at += off_t(n)
    }
    return result
}
