// Glibc only: baton-exec, which every rank starts, links this module.
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file descriptor until EOF and hands over complete lines (without the newline).
/// A line longer than `maxLine` bytes is handed over in pieces of that size.
public func readLines(fd: Int32, maxLine: Int = 16 * 1024, _ body: (Substring) -> Void) {
    var pending = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        pending.append(contentsOf: buffer[0..<n])
        var start = 0
        while let nl = pending[start...].firstIndex(of: 10) {
            var piece = start
            while nl - piece > maxLine {
                body(Substring(String(decoding: pending[piece..<(piece + maxLine)], as: UTF8.self)))
                piece += maxLine
            }
            body(Substring(String(decoding: pending[piece..<nl], as: UTF8.self)))
            start = nl + 1
        }
        if start > 0 { pending.removeFirst(start) }
        while pending.count >= maxLine {
            body(Substring(String(decoding: pending[0..<maxLine], as: UTF8.self)))
            pending.removeFirst(maxLine)
        }
    }
    if !pending.isEmpty { body(Substring(String(decoding: pending, as: UTF8.self))) }
}

/// Writes all of `text` to `fd`; false when the other end is gone.
@discardableResult
public func writeAll(fd: Int32, _ text: String) -> Bool {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        offset += n
    }
    return true
}
