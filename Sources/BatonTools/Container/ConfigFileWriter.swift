import BatonSupport
import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `--write` did with one file.
public struct WrittenFile: Sendable, Equatable {
    public enum Action: String, Sendable {
        /// There was no file.
        case written
        /// A file Baton wrote (or any file, with --force) was replaced.
        case replaced
        /// The file already held exactly these contents: left as it was.
        case unchanged
    }

    public var path: String
    public var action: Action
}

/// Why `container-config --write` wrote nothing, or stopped (`CodedError`).
public typealias ContainerConfigError = CodedError

extension CodedError.Code {
    /// A file is in the way that Baton did not write (and --force was not given).
    static let notBatons = CodedError.Code(name: "not Baton's", exitCode: ExitCodes.badInput)
}

/// Puts a runtime's files in place: each one atomically (a temporary file in the same
/// directory, flushed, then renamed over the old name), so a runtime never reads half a
/// file. A file Baton did not write is never replaced without `force`; when one is in the
/// way nothing at all is written.
public enum ConfigFileWriter {
    public static func write(_ config: ContainerConfig, force: Bool) throws(ContainerConfigError) -> [WrittenFile] {
        var plan: [(file: ConfigFile, path: String, action: WrittenFile.Action)] = []
        var refused: [String] = []
        for file in config.files {
            let path = ContainerConfig.join(config.directory, file.name)
            var info = stat()
            if lstat(path, &info) != 0 {
                plan.append((file, path, .written))
                continue
            }
            guard (info.st_mode & S_IFMT) == S_IFREG, let data = FileManager.default.contents(atPath: path) else {
                throw ContainerConfigError(.ioError, "\(path) is in the way and is not a regular file Baton can read")
            }
            let existing = String(decoding: data, as: UTF8.self)
            if existing == file.contents {
                plan.append((file, path, .unchanged))
            } else if force || (file.isMarked && ConfigFile.isBatons(existing)) {
                plan.append((file, path, .replaced))
            } else {
                refused.append(path)
            }
        }
        if !refused.isEmpty {
            throw ContainerConfigError(.notBatons, "not written: \(refused.joined(separator: ", ")) \(refused.count == 1 ? "exists and was" : "exist and were") not written by Baton (no \"\(ConfigFile.mark)\" first line); move \(refused.count == 1 ? "it" : "them") aside, or give --force to replace")
        }
        for entry in plan where entry.action != .unchanged {
            try replace(entry.path, with: entry.file.contents)
        }
        return plan.map { WrittenFile(path: $0.path, action: $0.action) }
    }

    /// Writes `contents` to a temporary file beside `path`, flushes it, and renames it over `path`.
    static func replace(_ path: String, with contents: String) throws(ContainerConfigError) {
        let parent = parentDirectory(path)
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw ContainerConfigError(.ioError, "cannot create \(parent): \(error.localizedDescription)")
        }
        let name = path.split(separator: "/").last.map(String.init) ?? "file"
        let temporary = "\(parent)/.\(name).baton-\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ContainerConfigError(.ioError, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(contents.utf8)
        var done = 0
        var failure: String?
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { failure = String(cString: strerror(errno)); break }
            done += n
        }
        if failure == nil && fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw ContainerConfigError(.ioError, "cannot write \(path): \(failure)")
        }
    }
}
