#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import BatonTrainer
import Foundation

/// A data file named by the user, with where it was named (for error messages) and its size.
struct InputFile: Sendable, Equatable {
    var path: String
    /// "files.txt:3" when it came from a --list file, nil when from the command line.
    var origin: String?
    var size: Int
}

/// Reading the list of input files and checking each is a readable regular file.
public enum ShardInputs {
    /// The paths in a list file: one per line; blank lines and lines starting with '#' are
    /// skipped; surrounding spaces are trimmed. Returns (path, "LIST:LINE") pairs.
    public static func readList(path: String) throws -> [(path: String, origin: String)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShardError(.unreadableFile, "cannot read the file list \(path): it is missing or unreadable")
        }
        var out: [(String, String)] = []
        let text = String(decoding: data, as: UTF8.self)
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            out.append((line, "\(path):\(i + 1)"))
        }
        return out
    }

    /// Stats and opens each path; throws naming the first that is missing, unreadable, not a
    /// regular file, or listed twice.
    static func resolve(_ paths: [(path: String, origin: String?)]) throws -> [InputFile] {
        if paths.isEmpty {
            throw ShardError(.badArgument, "no input files given")
        }
        var seen: [String: String] = [:]
        var out: [InputFile] = []
        out.reserveCapacity(paths.count)
        for (path, origin) in paths {
            let whereNamed = origin.map { "\($0): " } ?? ""
            if let first = seen[path] {
                throw ShardError(.badArgument, "\(whereNamed)\(path) is listed twice (first at \(first)); each file may appear once")
            }
            seen[path] = origin ?? "the command line"
            var st = stat()
            if stat(path, &st) != 0 {
                throw ShardError(.unreadableFile, "\(whereNamed)cannot use \(path): \(String(cString: strerror(errno)))")
            }
            if (st.st_mode & S_IFMT) != S_IFREG {
                throw ShardError(.unreadableFile, "\(whereNamed)\(path) is not a regular file")
            }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                throw ShardError(.unreadableFile, "\(whereNamed)cannot read \(path): \(String(cString: strerror(errno)))")
            }
            close(fd)
            out.append(InputFile(path: path, origin: origin, size: Int(st.st_size)))
        }
        return out
    }
}
