/// Why a shard plan could not be made or written. Nothing is written when one is thrown.
///
/// `description` is a sentence a user can act on; `code` lets callers branch without
/// parsing text (new codes may be added, so switch with a `default`).
public struct ShardError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Equatable {
        /// A number is out of range (N = 0, W = 0, rank >= W, consumed > N, ...).
        case badArgument
        /// An input file is missing, unreadable, or not a regular file.
        case unreadableFile
        /// A fixed record size does not divide a file's size.
        case badRecordSize
        /// Fewer files than ranks without `allowEmpty`.
        case tooFewFiles
        /// The output directory already holds a plan.json for a different plan.
        case planConflict
        /// A shard file (rank-<r>.npy / .json) is malformed.
        case badShardFile
        /// Writing the output failed (disk full, permission denied, ...).
        case writeFailed
    }

    public let code: Code
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
