#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import BatonTrainer
import Foundation

/// How records are laid out in a file split by byte ranges.
public enum RecordFormat: Sendable, Equatable, CustomStringConvertible {
    /// Records end with '\n'; the last record of a file may lack it. Empty lines are records.
    case newline
    /// Records of exactly this many bytes; every file's size must be a multiple of it.
    case fixed(Int)

    /// Parses "newline" or "fixed:SIZE".
    public init(parsing text: String) throws {
        if text == "newline" {
            self = .newline
        } else if text.hasPrefix("fixed:"), let size = Int(text.dropFirst(6)), size >= 1 {
            self = .fixed(size)
        } else {
            throw ShardError(.badArgument, "record format \"\(text)\" is not \"newline\" or \"fixed:SIZE\" with SIZE a whole number of bytes >= 1")
        }
    }

    public var description: String {
        switch self {
        case .newline: "newline"
        case .fixed(let size): "fixed:\(size)"
        }
    }
}

/// A half-open byte range [start, end) of one file.
struct ByteRange: Codable, Sendable, Equatable {
    var file: String
    var start: Int
    var end: Int
}

/// Byte ranges over the concatenation of record files, one contiguous stretch per rank.
///
/// The ideal cut k * total / W is moved forward to the next record start; files never share
/// a record, so a file's start is always a record start. For newline records the next start
/// is found by reading from one byte before the cut until the next '\n' (4-64 KiB reads), so
/// the work is W small reads whatever the file size. Every record lies in exactly one range.
public struct ByteRangeShardPlan: Sendable {
    let world: Int
    let record: RecordFormat
    public let totalBytes: Int
    /// W + 1 offsets into the concatenation: rank r gets [cuts[r], cuts[r+1]).
    public let cuts: [Int]
    /// Each rank's ranges, split at file ends; empty files and empty stretches are left out.
    let ranges: [[ByteRange]]
    let inputs: [InputFile]
    /// How many reads, and bytes, finding the record starts took (0 for fixed records):
    /// the evidence that no file was scanned.
    public let readCount: Int
    public let bytesRead: Int

    /// Bytes read per look-ahead when searching for the next newline: the first read is one
    /// page (most records are shorter), later ones double up to 64 KiB for long records.
    static let firstReadSize = 1 << 12
    static let readSize = 1 << 16

    public init(paths: [String], world: Int, record: RecordFormat) throws {
        try self.init(sources: paths.map { ($0, nil) }, world: world, record: record)
    }

    public init(sources: [(path: String, origin: String?)], world: Int, record: RecordFormat) throws {
        guard world >= 1 && world <= SampleShardPlan.maximumWorld else {
            throw ShardError(.badArgument, "world size is \(world); it must be between 1 and \(SampleShardPlan.maximumWorld)")
        }
        let inputs = try ShardInputs.resolve(sources)
        if case .fixed(let size) = record {
            for f in inputs where f.size % size != 0 {
                throw ShardError(.badRecordSize, "\(f.origin.map { "\($0): " } ?? "")\(f.path) is \(f.size) bytes, not a multiple of the record size \(size) (\(f.size / size) records and \(f.size % size) bytes left over)")
            }
        }
        var starts: [Int] = []
        var total = 0
        for f in inputs { starts.append(total); total += f.size }

        var cuts = [0]
        var reader = BoundaryReader()
        defer { reader.close() }
        for k in 1..<world {
            // k * total / world without overflow for totals near Int.max / world.
            let ideal = (total / world) * k + (total % world) * k / world
            let previous = cuts[k - 1]
            if ideal <= previous { cuts.append(previous); continue }
            // The file holding byte `ideal` (the last file starting at or before it, skipping empties).
            var lo = 0, hi = inputs.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= ideal { lo = mid } else { hi = mid - 1 }
            }
            let f = lo
            let offset = ideal - starts[f]
            let next: Int
            if offset == 0 || offset >= inputs[f].size {
                next = starts[f] + min(offset, inputs[f].size)
            } else {
                switch record {
                case .fixed(let size):
                    next = starts[f] + (offset + size - 1) / size * size
                case .newline:
                    next = starts[f] + (try reader.nextRecordStart(in: inputs[f], after: offset))
                }
            }
            cuts.append(max(previous, next))
        }
        cuts.append(total)
        self.readCount = reader.reads
        self.bytesRead = reader.bytes

        self.world = world
        self.record = record
        self.totalBytes = total
        self.cuts = cuts
        self.inputs = inputs
        // One pass over ranks and files together (cuts are in order): O(W + files).
        var ranges: [[ByteRange]] = []
        ranges.reserveCapacity(world)
        var first = 0
        for r in 0..<world {
            while first < inputs.count && starts[first] + inputs[first].size <= cuts[r] { first += 1 }
            var out: [ByteRange] = []
            var i = first
            while i < inputs.count && starts[i] < cuts[r + 1] {
                let s = max(cuts[r], starts[i]), e = min(cuts[r + 1], starts[i] + inputs[i].size)
                if s < e { out.append(ByteRange(file: inputs[i].path, start: s - starts[i], end: e - starts[i])) }
                i += 1
            }
            ranges.append(out)
        }
        self.ranges = ranges
    }

    struct RankEntry: Codable {
        var rank: Int
        var bytes: Int
        var ranges: [ByteRange]
    }

    struct FileEntry: Codable {
        var path: String
        var bytes: Int
    }

    struct Description: Codable {
        var kind = "bytes"
        var world: Int
        var record: String
        var totalBytes: Int
        var files: [FileEntry]
        var ranks: [RankEntry]
        enum CodingKeys: String, CodingKey {
            case kind, world, record, files, ranks
            case totalBytes = "total_bytes"
        }
    }

    func rankEntry(_ r: Int) -> RankEntry { RankEntry(rank: r, bytes: cuts[r + 1] - cuts[r], ranges: ranges[r]) }

    /// Writes DIR/plan.json (per rank its ranges as {file, start, end}, end exclusive) and
    /// DIR/rank-<r>.json ({"rank", "bytes", "ranges"}). Throws before writing when DIR
    /// holds another plan.
    public func write(to directory: String) throws {
        let description = Description(
            world: world, record: record.description, totalBytes: totalBytes,
            files: inputs.map { FileEntry(path: $0.path, bytes: $0.size) },
            ranks: (0..<world).map(rankEntry))
        let data = try PlanDirectory.encode(description)
        try PlanDirectory.check(directory, plan: data)
        try PlanDirectory.create(directory)
        for r in 0..<world {
            let file = try AtomicOutputFile(path: directory + "/rank-\(r).json")
            try file.write([UInt8](try PlanDirectory.encode(rankEntry(r))))
            try file.commit()
        }
        try PlanDirectory.writePlan(data, to: directory)
    }
}

/// Reads just enough of a file to find the first record start after an offset.
private struct BoundaryReader {
    private var openPath: String?
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: ByteRangeShardPlan.readSize)
    private(set) var reads = 0
    private(set) var bytes = 0

    /// The smallest record start s with offset <= s <= size: the byte after the first '\n'
    /// at or after offset - 1 (so a cut right after a newline stays put), or the file's end.
    mutating func nextRecordStart(in file: InputFile, after offset: Int) throws -> Int {
        if openPath != file.path {
            close()
            fd = open(file.path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                throw ShardError(.unreadableFile, "cannot read \(file.path): \(String(cString: strerror(errno)))")
            }
            openPath = file.path
        }
        var at = offset - 1
        var size = ByteRangeShardPlan.firstReadSize
        while at < file.size {
            let want = min(size, file.size - at)
            size = min(size * 2, buffer.count)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(at)) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ShardError(.unreadableFile, "cannot read \(file.path) at byte \(at): \(String(cString: strerror(errno)))")
            }
            if got == 0 { break }  // the file shrank since it was sized
            reads += 1
            bytes += got
            if let i = buffer[0..<got].firstIndex(of: 0x0a) { return at + i + 1 }
            at += got
        }
        return file.size
    }

    mutating func close() {
        if fd >= 0 { _ = closeFile(fd) }
        fd = -1
        openPath = nil
    }
}

private func closeFile(_ fd: Int32) -> Int32 { close(fd) }
