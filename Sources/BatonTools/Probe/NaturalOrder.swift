/// Orders names the way people count: mlx5_2 before mlx5_10, uverbs9 before uverbs10.
enum NaturalOrder {
    static func less(_ a: String, _ b: String) -> Bool {
        let ka = key(a), kb = key(b)
        for (x, y) in zip(ka, kb) where x != y {
            switch (x, y) {
            case (.number(let m), .number(let n)): return m < n
            case (.text(let s), .text(let t)): return s < t
            case (.number, .text): return true
            case (.text, .number): return false
            }
        }
        if ka.count != kb.count { return ka.count < kb.count }
        return a < b
    }

    static func sorted(_ names: [String]) -> [String] { names.sorted(by: less) }

    private enum Part: Equatable { case number(UInt64), text(String) }

    private static func key(_ s: String) -> [Part] {
        var parts: [Part] = []
        var digits = "", text = ""
        for ch in s {
            if ch.isASCII && ch.isNumber {
                if !text.isEmpty { parts.append(.text(text)); text = "" }
                digits.append(ch)
            } else {
                if !digits.isEmpty { parts.append(.number(UInt64(digits) ?? .max)); digits = "" }
                text.append(ch)
            }
        }
        if !digits.isEmpty { parts.append(.number(UInt64(digits) ?? .max)) }
        if !text.isEmpty { parts.append(.text(text)) }
        return parts
    }
}
