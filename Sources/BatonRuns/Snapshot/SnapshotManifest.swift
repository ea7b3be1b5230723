import BatonProtocol
import Crypto
import BatonSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a run snapshot holds, written last into it (`manifest.json`): every file with its
/// path relative to the snapshot, its size and its SHA-256, and how it got there. A
/// snapshot is trusted only as far as its files match this (`SnapshotManifest.verify`).
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public static let fileName = RunDirectory.Relative.snapshotManifest
    static let currentFormat = 1

    public struct Entry: Codable, Sendable, Equatable {
        /// Relative to the snapshot (and to the run directory it was taken of).
        var path: String
        var size: Int64
        /// Lower-case hex.
        var sha256: String
        /// `backup` (an SQLite store through the online backup API), `copy`, or `link` (a
        /// hard link to the run's own file: a checkpoint no trainer had touched for a while).
        var how: String
        /// For links: the inode and its mtime (ns) when it was hashed, so the next snapshot
        /// can take the hash over for the same unchanged inode instead of reading it again.
        var inode: UInt64?
        var mtimeNanos: Int64?

        init(path: String, size: Int64, sha256: String, how: String, inode: UInt64? = nil, mtimeNanos: Int64? = nil) {
            self.path = path
            self.size = size
            self.sha256 = sha256
            self.how = how
            self.inode = inode
            self.mtimeNanos = mtimeNanos
        }

        enum CodingKeys: String, CodingKey {
            case path, size, sha256, how, inode
            case mtimeNanos = "mtime_ns"
        }
    }

    var format: Int
    public var id: String
    public var label: String?
    /// Unix seconds when the snapshot began (the store's backup is this point in time).
    public var createdAt: Double
    /// The run directory it was taken of (absolute).
    public var runDir: String
    /// `grid` (a `grid.sqlite` store), `launch` (a launch's JSON state), or `run`.
    public var kind: String
    /// Wall seconds taking it took.
    public var seconds: Double
    /// Directories, also empty ones (a checkpoint directory a config has not written to yet).
    var directories: [String]
    public var files: [Entry]

    public var bytes: Int64 { files.reduce(0) { $0 + $1.size } }

    enum CodingKeys: String, CodingKey {
        case format, id, label, kind, seconds, directories, files
        case createdAt = "created_at"
        case runDir = "run_dir"
    }

    public static func load(snapshotDir: String) throws(SnapshotError) -> SnapshotManifest {
        let path = (snapshotDir as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SnapshotError(.badInput, "\(snapshotDir) is not a snapshot (no \(fileName))")
        }
        do {
            let m = try JSONDecoder().decode(SnapshotManifest.self, from: data)
            guard m.format <= currentFormat else {
                throw SnapshotError(.badInput, "\(path): format \(m.format) is newer than this baton reads (\(currentFormat))")
            }
            return m
        } catch let e as SnapshotError {
            throw e
        } catch {
            throw SnapshotError(.dataError, "\(path) is not a readable manifest: \(error)")
        }
    }

    func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    /// A file of the snapshot that does not match its manifest entry.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        var path: String
        var what: String
        public var description: String { "\(path): \(what)" }
    }

    /// Every file that is missing, has another size, or (unless `sizesOnly`) another SHA-256
    /// than the manifest says, in manifest order. Empty when the snapshot is intact.
    public func verify(snapshotDir: String, sizesOnly: Bool = false) -> [Problem] {
        var problems: [Problem] = []
        for e in files {
            let full = (snapshotDir as NSString).appendingPathComponent(e.path)
            guard let st = FileStat.of(full), st.isRegular else {
                problems.append(Problem(path: e.path, what: "missing"))
                continue
            }
            if st.size != e.size {
                problems.append(Problem(path: e.path, what: "size \(st.size), the manifest says \(e.size)"))
                continue
            }
            if sizesOnly { continue }
            do {
                let (sum, _) = try FileDigest.sha256(path: full)
                if sum != e.sha256 { problems.append(Problem(path: e.path, what: "sha256 \(sum), the manifest says \(e.sha256)")) }
            } catch {
                problems.append(Problem(path: e.path, what: "\(error)"))
            }
        }
        return problems
    }
}

/// `lstat(2)` of a path, the fields a snapshot looks at.
struct FileStat: Equatable {
    var mode: mode_t
    var size: Int64
    var inode: UInt64
    var device: UInt64
    var links: UInt64
    /// Nanoseconds since the epoch.
    var mtimeNanos: Int64

    var isRegular: Bool { mode & mode_t(S_IFMT) == mode_t(S_IFREG) }
    var isDirectory: Bool { mode & mode_t(S_IFMT) == mode_t(S_IFDIR) }
    var mtime: Double { Double(mtimeNanos) / 1e9 }

    static func of(_ path: String) -> FileStat? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileStat(
            mode: st.st_mode, size: Int64(st.st_size), inode: UInt64(st.st_ino), device: UInt64(st.st_dev),
            links: UInt64(st.st_nlink), mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}

/// SHA-256 of files, read once in 1 MiB pieces (swift-crypto), also while copying them.
enum FileDigest {
    static let chunk = 1 << 20

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The SHA-256 (hex) and the byte count of the file at `path`.
    static func sha256(path: String) throws(SnapshotError) -> (String, Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SnapshotError.io("cannot open \(path)") }
        defer { close(fd) }
        return try stream(fd, path: path, into: nil, destination: "")
    }

    /// Copies `source` to a new file `destination` (mode 0644, fsynced) and returns the
    /// SHA-256 and size of what was written, from the one read of the source; nil when
    /// `source` no longer exists (a trainer's temp file renamed away since it was listed).
    static func copy(_ source: String, to destination: String) throws(SnapshotError) -> (String, Int64)? {
        let src = open(source, O_RDONLY | O_CLOEXEC)
        if src < 0 && errno == ENOENT { return nil }
        guard src >= 0 else { throw SnapshotError.io("cannot open \(source)") }
        defer { close(src) }
        let dst = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard dst >= 0 else { throw SnapshotError.io("cannot create \(destination)") }
        var closed = false
        defer { if !closed { close(dst) } }
        let result = try stream(src, path: source, into: dst, destination: destination)
        guard fsync(dst) == 0 else { throw SnapshotError.io("cannot fsync \(destination)") }
        closed = true
        guard close(dst) == 0 else { throw SnapshotError.io("cannot close \(destination)") }
        return result
    }

    /// Reads `fd` to its end, hashing every byte and writing it to `dst` when given.
    private static func stream(_ fd: Int32, path: String, into dst: Int32?, destination: String) throws(SnapshotError)
        -> (String, Int64)
    {
        var hasher = SHA256()
        var total: Int64 = 0
        var buf = [UInt8](repeating: 0, count: chunk)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunk) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SnapshotError.io("cannot read \(path)")
            }
            if n == 0 { break }
            if let dst {
                var off = 0
                while off < n {
                    let w = buf.withUnsafeBytes { write(dst, $0.baseAddress! + off, n - off) }
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw SnapshotError.io("cannot write \(destination)")
                    }
                    off += w
                }
            }
            buf.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
        return (hex(hasher.finalize()), total)
    }
}

/// A snapshot that cannot be taken, listed or restored (`CodedError`); the message says what to do.
public typealias SnapshotError = CodedError

extension CodedError {
    /// An I/O failure with `errno`'s text.
    static func io(_ what: String) -> CodedError {
        CodedError(.ioError, "\(what): \(String(cString: strerror(errno)))")
    }
}
