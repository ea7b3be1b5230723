import BatonSupport
import Foundation

/// One value a grid parameter takes: what YAML gave, kept with its type so that `1`, `1.0`
/// and `"1"` stay three different configs.
public enum GridValue: Sendable, Hashable, CustomStringConvertible {
    case int(Int)
    case double(Double)
    case string(String)
    case bool(Bool)

    /// The value as it is substituted into a `{name}` placeholder of the command.
    public var description: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return GridValue.format(v)
        case .string(let v): return v
        case .bool(let v): return v ? "true" : "false"
        }
    }

    /// The value as canonical JSON text (the input to config ids and `BATON_CONFIG`).
    var json: String {
        switch self {
        case .int(let v): return String(v)
        case .double(let v): return GridValue.format(v)
        case .string(let v): return GridJSON.quote(v)
        case .bool(let v): return v ? "true" : "false"
        }
    }

    /// The value as a Foundation JSON object (for `results --json`).
    public var jsonObject: Any {
        switch self {
        case .int(let v): return v
        case .double(let v): return v
        case .string(let v): return v
        case .bool(let v): return v
        }
    }

    /// Parses the canonical JSON text written by `json`.
    init?(json text: String) {
        if text == "true" { self = .bool(true); return }
        if text == "false" { self = .bool(false); return }
        if text.hasPrefix("\"") {
            guard let data = text.data(using: .utf8),
                let s = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? String
            else { return nil }
            self = .string(s)
            return
        }
        if let i = Int(text) { self = .int(i); return }
        if let d = Double(text) { self = .double(d); return }
        return nil
    }

    /// Shortest text that reads back as the same double; integral values keep a `.0`
    /// so that they stay doubles when read back.
    /// (Byte tests, not `String.contains`: Foundation's `contains` goes through NSString,
    /// and the scheduler formats a metric for every finished config; it was 7% of the
    /// scheduler's CPU at 100,000 configs.)
    static func format(_ v: Double) -> String {
        var s = "\(v)"
        // "1.5", "1e-05", "nan", "inf" stay; "3" becomes "3.0".
        if !s.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "n") }) {
            s += ".0"
        }
        return s
    }
}

/// Small JSON helpers: canonical text with a fixed key order, so that equal configs hash equal.
package enum GridJSON {
    package static func quote(_ s: String) -> String { OrderedJSON.quote(s) }

    /// `{"a":1,"b":"x"}` with keys sorted by their UTF-8 bytes.
    package static func object(_ pairs: [(String, GridValue)]) -> String {
        let sorted = pairs.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        return "{" + sorted.map { quote($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
    }

    /// `{"lr":0.1,"bs":32}` in the given order (the spec's), for people to read.
    package static func orderedObject(_ pairs: [(String, GridValue)]) -> String {
        "{" + pairs.map { quote($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
    }

    /// Reads a flat object written by `object` back into ordered pairs (sorted keys).
    package static func parseObject(_ text: String) -> [(String, GridValue)] {
        var out: [(String, GridValue)] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        func skipSpace() { while i < chars.count, chars[i] == " " || chars[i] == "\n" { i += 1 } }
        func readString() -> String? {
            guard i < chars.count, chars[i] == "\"" else { return nil }
            let start = i
            i += 1
            while i < chars.count, chars[i] != "\"" { i += chars[i] == "\\" ? 2 : 1 }
            i += 1
            var raw = String.UnicodeScalarView()
            raw.append(contentsOf: chars[start..<min(i, chars.count)])
            guard let data = String(raw).data(using: .utf8) else { return nil }
            return (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) as? String
        }
        skipSpace()
        guard i < chars.count, chars[i] == "{" else { return [] }
        i += 1
        while i < chars.count {
            skipSpace()
            if chars[i] == "}" { break }
            if chars[i] == "," { i += 1; continue }
            guard let key = readString() else { return out }
            skipSpace()
            guard i < chars.count, chars[i] == ":" else { return out }
            i += 1
            skipSpace()
            if i < chars.count, chars[i] == "\"" {
                guard let s = readString() else { return out }
                out.append((key, .string(s)))
            } else {
                var token = ""
                while i < chars.count, chars[i] != ",", chars[i] != "}" { token.unicodeScalars.append(chars[i]); i += 1 }
                if let v = GridValue(json: token.trimmingCharacters(in: .whitespaces)) { out.append((key, v)) }
            }
        }
        return out
    }

    package static func stringArray(_ words: [String]) -> String {
        "[" + words.map(quote).joined(separator: ",") + "]"
    }

    package static func parseStringArray(_ text: String) -> [String] {
        guard let data = text.data(using: .utf8),
            let arr = try? JSONSerialization.jsonObject(with: data) as? [String]
        else { return [] }
        return arr
    }
}

/// FNV-1a, 64 bit: a short, stable, dependency-free hash for config ids. Ids only need to be
/// stable and distinct within one grid; a collision is detected and reported at expansion.
package enum GridHash {
    package static func hash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}
