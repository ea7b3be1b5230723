import BatonSupport
/// Message-size schedules and iteration counts, as osu-micro-benchmarks uses them so
/// that Baton's figures line up with published OSU figures.
public enum MessageSizes {
    /// Sizes doubling from `minimum` to `maximum` bytes, both included when they fall on
    /// the doubling sequence. A minimum of 0 puts 0 first and then continues from 1 B
    /// (OSU latency starts at 0 B, bandwidth at 1 B).
    public static func doubling(from minimum: Int, to maximum: Int) throws(BenchError) -> [Int] {
        guard minimum >= 0 else { throw BenchError(.badOption, "--min-size must be 0 or more bytes, got \(minimum)") }
        guard maximum >= minimum else {
            throw BenchError(.badOption, "--max-size (\(maximum) B) is below --min-size (\(minimum) B)")
        }
        guard maximum <= 1 << 34 else {
            throw BenchError(.badOption, "--max-size \(maximum) B is above the 16 GiB this harness allocates")
        }
        var sizes: [Int] = []
        var size = minimum
        if size == 0 {
            sizes.append(0)
            size = 1
        }
        while size <= maximum {
            sizes.append(size)
            size *= 2
        }
        return sizes
    }

    /// Above this size OSU switches to its "large message" iteration counts
    /// (`LARGE_MESSAGE_SIZE` in osu_util.h: 8192 bytes).
    static let largeMessageThreshold = 8192

    /// Parses a byte size as a person writes it: `4096`, `8K`, `4M`, `1G`, `64KiB`,
    /// `2MB` (all binary: K = 1024). Returns nil when the text is not a size.
    public static func parseByteSize(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: " "))
        var unit = ""
        while let last = digits.last, last.isLetter {
            unit = String(last) + unit
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let value = Int(digits), value >= 0 else { return nil }
        let shift: Int
        switch unit.lowercased() {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        return overflow ? nil : result
    }

    /// A size for people: `0 B`, `512 B`, `4 KiB`, `1.5 MiB`.
    static func label(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1024, index < units.count - 1 {
            value /= 1024
            index += 1
        }
        if value == value.rounded() { return "\(Int(value)) \(units[index])" }
        return "\(formatFixed(value, decimals: 1)) \(units[index])"
    }
}

extension String {
    func trimmingCharacters(in set: Character) -> String {
        var s = Substring(self)
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return String(s)
    }
}

/// How many timed iterations and how many untimed warm-up iterations to run at a size.
struct IterationPlan: Sendable, Equatable {
    var iterations: Int
    var warmup: Int

    init(iterations: Int, warmup: Int) {
        self.iterations = iterations
        self.warmup = warmup
    }

    /// OSU's defaults (osu_util.h, version 5.x): latency 10000 timed + 100 skipped,
    /// bandwidth 100 + 10, collectives 1000 + 100; above 8 KiB latency 1000 + 10,
    /// bandwidth 20 + 2, collectives 100 + 10.
    static func osu(_ family: Family, size: Int) -> IterationPlan {
        let large = size > MessageSizes.largeMessageThreshold
        switch family {
        case .latency: return large ? .init(iterations: 1000, warmup: 10) : .init(iterations: 10000, warmup: 100)
        case .bandwidth: return large ? .init(iterations: 20, warmup: 2) : .init(iterations: 100, warmup: 10)
        case .collective: return large ? .init(iterations: 100, warmup: 10) : .init(iterations: 1000, warmup: 100)
        }
    }

    /// The OSU plan with the user's overrides applied (nil keeps OSU's value).
    static func resolve(_ family: Family, size: Int, iterations: Int?, warmup: Int?) -> IterationPlan {
        var plan = osu(family, size: size)
        if let iterations { plan.iterations = iterations }
        if let warmup { plan.warmup = warmup }
        return plan
    }

    enum Family: Sendable { case latency, bandwidth, collective }
}

/// `value` with exactly `decimals` digits after the point, without Foundation's locale.
func formatFixed(_ value: Double, decimals: Int) -> String { Figure.fixed(value, decimals: decimals) }
