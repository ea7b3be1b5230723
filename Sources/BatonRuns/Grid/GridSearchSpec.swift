import BatonSystem
import Foundation
import Yams

/// How the configs of a spec are chosen (`search:`): every point of the grid, or `N`
/// points drawn at random from the parameters' distributions.
public enum GridSearch: Sendable, Equatable, Codable {
    case grid
    /// `search: {random: N, seed: S}`: sample `i` depends only on the seed and `i`, so a
    /// larger `N` keeps the first samples (and their ids) and `--resume` maps onto them.
    case random(count: Int, seed: UInt64)
}

/// A distribution a parameter is drawn from under `search: {random: N}` (a list of values,
/// or `choice`, is drawn from uniformly).
public enum GridDistribution: Sendable, Equatable, CustomStringConvertible {
    case uniform(Double, Double)
    case loguniform(Double, Double)
    /// Both ends included.
    case int(Int, Int)
    /// `exp(uniform(log low, log high))` rounded to a multiple of `q`; whole numbers when
    /// the ends and `q` are.
    case qloguniform(GridValue, GridValue, GridValue)

    public var description: String {
        switch self {
        case .uniform(let a, let b): return "uniform(\(GridValue.format(a)), \(GridValue.format(b)))"
        case .loguniform(let a, let b): return "loguniform(\(GridValue.format(a)), \(GridValue.format(b)))"
        case .int(let a, let b): return "int(\(a), \(b))"
        case .qloguniform(let a, let b, let q): return "qloguniform(\(a), \(b), \(q))"
        }
    }
}

/// The early-stopping rule of a grid (`scheduler:`) and its settings. The rules themselves
/// are `AshaPolicy` and `MedianStoppingPolicy` (BatonGrid); see docs/grid.md.
public struct GridEarlyStop: Sendable, Equatable, Codable {
    public enum Rule: String, Sendable, Codable, CaseIterable {
        /// Every config runs to its end (the default).
        case fifo
        /// Asynchronous successive halving (Li et al., MLSys 2020).
        case asha
        /// The median stopping rule (Golovin et al., Google Vizier, KDD 2017).
        case median
    }

    public var rule: Rule
    /// The metric key that counts progress (step, epoch, samples): the time axis.
    public var timeAttr = "step"
    /// No decision before this much progress (ASHA: the first rung).
    public var grace: Double = 1
    /// ASHA's η: a config continues past a rung when it is in the top 1/η there.
    public var reductionFactor: Double = 3
    /// ASHA: no rung at or above this; the config runs to its own end.
    public var maxT: Double = 100
    /// ASHA: bracket `s` has its first rung at grace·η^s.
    public var brackets = 1
    /// Median: at least this many other configs must have reached the same time.
    public var minSamples = 3
    /// The order configs are started in; nil (the default) is `shuffled`. Optional so that
    /// a run stored before the key existed still decodes.
    public var order: Order?

    /// `order:` of an early-stopping scheduler.
    public enum Order: String, Sendable, Codable, CaseIterable {
        /// A fixed pseudo-random permutation of the configs (by a hash of each config's id,
        /// so the same on `--resume`). The default: the ASHA paper samples configs at random,
        /// and a rule that judges a config against those that reached the same point before
        /// it saves little when the spec's order starts the weakest first.
        case shuffled
        /// The spec's own order (the expansion's, as `fifo` runs it).
        case spec
    }

    /// The order configs start in under this rule.
    public var dispatchOrder: Order { order ?? .shuffled }

    init(rule: Rule) { self.rule = rule }

    static let keys: [Rule: [String]] = [
        .fifo: ["type"],
        .asha: ["type", "time_attr", "grace", "reduction_factor", "max_t", "brackets", "order"],
        .median: ["type", "time_attr", "grace", "min_samples", "order"],
    ]
}

extension SpecParser {
    /// `scheduler: fifo | asha | median`, or a mapping with `type:` and the rule's settings.
    func earlyStop(_ node: Node) throws -> GridEarlyStop {
        let rules = GridEarlyStop.Rule.allCases.map(\.rawValue).joined(separator: ", ")
        if case .scalar(let s) = node {
            guard let rule = GridEarlyStop.Rule(rawValue: s.string) else {
                throw fail("'scheduler' must be one of \(rules), or a mapping with 'type'", node)
            }
            return GridEarlyStop(rule: rule)
        }
        let entries = try mapping(node, what: "'scheduler'")
        guard let typeEntry = entries.first(where: { $0.key == "type" }) else {
            throw fail("'scheduler' needs a 'type' (\(rules))", node)
        }
        guard let rule = typeEntry.value.string.flatMap(GridEarlyStop.Rule.init(rawValue:)) else {
            throw fail("'type' must be one of \(rules)", typeEntry.value)
        }
        var e = GridEarlyStop(rule: rule)
        let allowed = GridEarlyStop.keys[rule]!
        for (k, kn, v) in entries where k != "type" {
            guard allowed.contains(k) else {
                throw fail("'\(k)' is not a setting of the \(rule.rawValue) scheduler (its settings: \(allowed.dropFirst().joined(separator: ", ")))", kn)
            }
            switch k {
            case "time_attr":
                guard case .scalar(let s) = v, !s.string.isEmpty else { throw fail("'time_attr' must be a metric name (step, epoch, ...)", v) }
                e.timeAttr = s.string
            case "grace":
                guard let d = positiveNumber(v) else { throw fail("'grace' must be a number > 0", v) }
                e.grace = d
            case "reduction_factor":
                guard let d = positiveNumber(v), d > 1 else { throw fail("'reduction_factor' must be a number > 1", v) }
                e.reductionFactor = d
            case "max_t":
                guard let d = positiveNumber(v) else { throw fail("'max_t' must be a number > 0", v) }
                e.maxT = d
            case "brackets": e.brackets = try positiveInt(v, what: "'brackets'")
            case "min_samples": e.minSamples = try positiveInt(v, what: "'min_samples'")
            case "order":
                let orders = GridEarlyStop.Order.allCases.map(\.rawValue).joined(separator: " or ")
                guard let o = v.string.flatMap(GridEarlyStop.Order.init(rawValue:)) else { throw fail("'order' must be \(orders)", v) }
                e.order = o
            default: break
            }
        }
        if rule == .asha {
            if e.maxT <= e.grace { throw fail("'max_t' (\(GridFormat.metric(e.maxT))) must be above 'grace' (\(GridFormat.metric(e.grace)))", node) }
            let top = e.grace * pow(e.reductionFactor, Double(e.brackets - 1))
            if top >= e.maxT {
                throw fail("bracket \(e.brackets - 1) would start at \(GridFormat.metric(top)), not below 'max_t'; use fewer 'brackets'", node)
            }
        }
        return e
    }

    /// `search: grid`, or `search: {random: N, seed: S}`.
    func search(_ node: Node) throws -> GridSearch {
        if case .scalar(let s) = node, s.string == "grid" { return .grid }
        guard case .mapping = node else { throw fail("'search' must be grid or {random: N, seed: S}", node) }
        var count: Int?
        var seed: UInt64 = 0
        for (k, kn, v) in try mapping(node, what: "'search'") {
            switch k {
            case "random": count = try positiveInt(v, what: "'random'")
            case "seed":
                guard case .scalar = v, kind(v) == .int, let i = v.int, i >= 0 else { throw fail("'seed' must be a whole number >= 0", v) }
                seed = UInt64(i)
            default: throw fail("unknown key '\(k)' in 'search' (expected random, seed)", kn)
            }
        }
        guard let count else { throw fail("'search' needs 'random: N' (how many configs to draw)", node) }
        if count > 1_000_000 { throw fail("'random: \(count)' is more configs than Baton draws (1,000,000)", node) }
        return .random(count: count, seed: seed)
    }

    func positiveNumber(_ node: Node) -> Double? {
        guard case .scalar = node, kind(node) == .int || kind(node) == .float, let d = node.float ?? node.int.map(Double.init),
              d.isFinite, d > 0 else { return nil }
        return d
    }

    /// A parameter given as `{uniform: [a, b]}`, `{loguniform: [a, b]}`, `{int: [a, b]}` or
    /// `{qloguniform: [a, b, q]}`; nil for any other mapping key.
    func distribution(name: String, key: String, _ v: Node) throws -> GridDistribution? {
        let arity = key == "qloguniform" ? 3 : 2
        guard ["uniform", "loguniform", "int", "qloguniform"].contains(key) else { return nil }
        let items = try sequence(v, what: "'\(key)'")
        guard items.count == arity else {
            throw fail("'\(key)' takes [low, high\(arity == 3 ? ", q" : "")]", v)
        }
        let values = try items.map { try value($0, what: "a bound of '\(key)'") }
        func num(_ g: GridValue) -> Double? {
            switch g {
            case .int(let i): return Double(i)
            case .double(let d): return d
            default: return nil
            }
        }
        guard let a = num(values[0]), let b = num(values[1]) else { throw fail("the bounds of '\(key)' must be numbers", v) }
        guard a < b else { throw fail("parameter '\(name)': '\(key)' needs low < high", v) }
        switch key {
        case "uniform": return .uniform(a, b)
        case "loguniform":
            guard a > 0 else { throw fail("parameter '\(name)': 'loguniform' needs low > 0", v) }
            return .loguniform(a, b)
        case "int":
            guard case .int(let ia) = values[0], case .int(let ib) = values[1] else {
                throw fail("parameter '\(name)': 'int' takes whole numbers", v)
            }
            return .int(ia, ib)
        default:
            guard a > 0, let q = num(values[2]), q > 0 else { throw fail("parameter '\(name)': 'qloguniform' needs low > 0 and q > 0", v) }
            return .qloguniform(values[0], values[1], values[2])
        }
    }
}
