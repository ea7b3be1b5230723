/// A small ordered JSON writer: keys come out in the order written, so the output
/// reads like the table (Foundation's encoder sorts or shuffles them).
public indirect enum BenchJSON: Sendable, Equatable {
    case object([(String, BenchJSON)])
    case array([BenchJSON])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null

    public static func == (a: BenchJSON, b: BenchJSON) -> Bool { a.rendered() == b.rendered() }

    /// One JSON document; rows of an array each on their own line when `pretty`.
    public func rendered(pretty: Bool = false, indent: String = "") -> String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .int(let i): return String(i)
        case .double(let d):
            guard d.isFinite else { return "null" }
            if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            guard pretty, !items.isEmpty else { return "[" + items.map { $0.rendered() }.joined(separator: ",") + "]" }
            let inner = indent + "  "
            return "[\n" + items.map { inner + $0.rendered(pretty: false) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let fields):
            guard pretty else {
                return "{" + fields.map { Self.quote($0.0) + ":" + $0.1.rendered() }.joined(separator: ",") + "}"
            }
            let inner = indent + "  "
            return "{\n"
                + fields.map { inner + Self.quote($0.0) + ": " + $0.1.rendered(pretty: true, indent: inner) }.joined(separator: ",\n")
                + "\n" + indent + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
