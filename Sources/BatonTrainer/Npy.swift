/// numpy's .npy format, version 1.0, for one-dimensional little-endian arrays: the magic
/// "\x93NUMPY", version bytes 1 0, a little-endian UInt16 header length, then a Python dict
/// literal padded with spaces and a newline so the data starts at a multiple of 64 bytes
/// (what numpy itself writes; see numpy/lib/format.py).
package enum Npy {
    package static let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]  // \x93NUMPY

    /// The header for a 1-D array of `count` elements of dtype `descr` ("<i8", "|b1").
    package static func header(descr: String, count: Int) -> [UInt8] {
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(count),), }"
        let unpadded = magic.count + 2 + 2 + dict.utf8.count + 1
        let padding = (64 - unpadded % 64) % 64
        dict += String(repeating: " ", count: padding) + "\n"
        let length = UInt16(dict.utf8.count)
        return magic + [1, 0, UInt8(length & 0xff), UInt8(length >> 8)] + Array(dict.utf8)
    }

    package struct Parsed {
        package var descr: String
        package var count: Int
        package var dataOffset: Int
    }

    /// Parses the header at the start of `bytes`; only 1-D, C-order arrays.
    package static func parseHeader(_ bytes: [UInt8], path: String) throws -> Parsed {
        func bad(_ why: String) -> ShardError {
            ShardError(.badShardFile, "\(path) is not a .npy shard Baton can read: \(why)")
        }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw bad("no \\x93NUMPY magic at the start") }
        let major = bytes[6]
        let headerLength: Int
        let start: Int
        if major == 1 {
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        } else if major == 2 || major == 3 {
            guard bytes.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        } else {
            throw bad("unknown format version \(major)")
        }
        guard bytes.count >= start + headerLength else { throw bad("truncated header") }
        let text = String(decoding: bytes[start..<(start + headerLength)], as: UTF8.self)
        guard let descr = field(text, "descr").map({ trim($0, "'\"") }) else { throw bad("no 'descr' in header") }
        if let order = field(text, "fortran_order"), order != "False" { throw bad("fortran_order is \(order)") }
        guard let shape = field(text, "shape") else { throw bad("no 'shape' in header") }
        let dims = shape.filter { $0 != "(" && $0 != ")" && $0 != " " }.split(separator: ",")
        guard dims.count == 1, let count = Int(dims[0]), count >= 0 else { throw bad("shape \(shape) is not one-dimensional") }
        return Parsed(descr: descr, count: count, dataOffset: start + headerLength)
    }

    /// The value text of `'key': value` in a numpy header dict (value up to the next
    /// top-level comma or closing brace; shapes are parenthesised).
    private static func field(_ text: String, _ key: String) -> String? {
        guard let r = text.range(of: "'\(key)':") else { return nil }
        var value = ""
        var depth = 0
        for c in text[r.upperBound...] {
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if depth == 0 && (c == "," || c == "}") { break }
            value.append(c)
        }
        return trim(value, " \n")
    }

    private static func trim(_ text: String, _ characters: String) -> String {
        var s = Substring(text)
        while let c = s.first, characters.contains(c) { s.removeFirst() }
        while let c = s.last, characters.contains(c) { s.removeLast() }
        return String(s)
    }
}
