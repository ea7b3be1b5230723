import Foundation

/// A JSON value whose object keys keep the order they were given in, so the output of
/// `probe`, `doctor`, `container-flags` and `bench` with `--json` reads in a sensible
/// order and is byte-for-byte stable (golden files compare it exactly); Foundation's
/// encoder sorts or shuffles keys. Non-finite numbers are written as null.
public indirect enum OrderedJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    public static func == (a: OrderedJSON, b: OrderedJSON) -> Bool { a.rendered() == b.rendered() }

    package static func optional(_ value: String?) -> OrderedJSON { value.map { .string($0) } ?? .null }
    package static func optional(_ value: Int?) -> OrderedJSON { value.map { .int($0) } ?? .null }
    package static func optional(_ value: Double?) -> OrderedJSON { value.map { .double($0) } ?? .null }

    /// Pretty (two-space indent) when `pretty`, otherwise one line.
    public func rendered(pretty: Bool = true) -> String {
        var out = ""
        write(to: &out, indent: pretty ? 0 : nil)
        return out
    }

    private func write(to out: inout String, indent: Int?) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if !d.isFinite { out += "null" } else if d == d.rounded(), abs(d) < 1e15 { out += String(Int(d)) } else { out += String(d) }
        case .string(let s): OrderedJSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(to: &out, indent: indent.map { $0 + 1 })
            }
            if let indent { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                if let indent { out += "\n" + String(repeating: "  ", count: indent + 1) }
                OrderedJSON.quote(key, into: &out)
                out += indent == nil ? ":" : ": "
                value.write(to: &out, indent: indent.map { $0 + 1 })
            }
            if let indent { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    /// One document for result tables: an object's members each on a line, and an
    /// array inside it with one compact element per line (a row per line).
    public func renderedRows(indent: String = "") -> String {
        switch self {
        case .array(let items) where !items.isEmpty:
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.rendered(pretty: false) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let members) where !members.isEmpty:
            let inner = indent + "  "
            return "{\n"
                + members.map { inner + OrderedJSON.quote($0.0) + ": " + $0.1.renderedRows(indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        default:
            return rendered(pretty: false)
        }
    }

    /// A JSON string literal for `s`.
    public static func quote(_ s: String) -> String {
        var out = ""
        quote(s, into: &out)
        return out
    }

    package static func quote(_ s: String, into out: inout String) {
        out += "\""
        // Most keys and values need no escape: append them whole (the grid scheduler quotes
        // a metric name for every finished config).
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// The bench suites' name for the shared ordered JSON value.
public typealias BenchJSON = OrderedJSON
