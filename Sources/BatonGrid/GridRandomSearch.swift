import BatonRuns
import BatonTrainer
import Foundation

/// `search: {random: N, seed: S}`: N configs drawn from the parameters' distributions.
///
/// Deterministic and prefix-stable: every draw comes from a generator seeded by the seed,
/// the sample's index, the redraw count and the parameter's name, never from one shared
/// stream. So sample `i` is the same whatever `N` is (a larger `N` keeps the first samples
/// and their ids, and `--resume` with it only adds configs), and adding a parameter does
/// not change the values drawn for the others. The generator is BatonTrainer's SplitMix64,
/// whose output is fixed by its seed on every platform (`SystemRandomNumberGenerator`'s is not). A draw that repeats an earlier config is
/// drawn again (up to 100 times, then the space is too small for `N`).
/// `repeats` adds its `seed` axis to every sample.
enum GridRandomSearch {
    static let redraws = 100

    static func expand(_ spec: GridSpec, count: Int, seed: UInt64) throws -> [GridConfig] {
        let seedAxis = spec.parameters.last.flatMap { spec.seeds != nil && $0.name == "seed" ? $0 : nil }
        let drawn = seedAxis == nil ? spec.parameters : Array(spec.parameters.dropLast())
        var seen = Set<String>()
        var configs: [GridConfig] = []
        configs.reserveCapacity(count * (seedAxis?.values.count ?? 1))
        for i in 0..<count {
            var sample: [(String, GridValue)]?
            for k in 0..<redraws {
                let params = drawn.map { ($0.name, draw($0, seed: seed, sample: i, redraw: k)) }
                if seen.insert(GridJSON.object(params)).inserted {
                    sample = params
                    break
                }
            }
            guard let sample else {
                throw GridSpecError(
                    "'search: {random: \(count)}': sample \(i + 1) repeats an earlier config in \(redraws) draws; "
                        + "the parameters hold fewer distinct configs than that (use search: grid, or a smaller N)",
                    at: spec.parameters.first?.location, file: spec.file)
            }
            for seedValue in seedAxis?.values.map(Optional.some) ?? [nil] {
                let params = sample + (seedValue.map { [("seed", $0)] } ?? [])
                let json = GridJSON.object(params)
                configs.append(
                    GridConfig(
                        position: configs.count, id: GridConfig.id(forCanonicalJSON: json), params: params, paramsJSON: json,
                        argv: GridCommandTemplate.render(spec.command, params)))
            }
        }
        if Set(configs.map(\.id)).count != configs.count {
            throw GridSpecError("two drawn configs hash to one id; rename a parameter", at: nil, file: spec.file)
        }
        return configs
    }

    /// One value of parameter `p` for sample `i`, redraw `k`.
    static func draw(_ p: GridParameter, seed: UInt64, sample i: Int, redraw k: Int) -> GridValue {
        var rng = SplitMix64(seed: GridHash.hash("\(seed)/\(i)/\(k)/\(p.name)"))
        guard let d = p.distribution else {
            return p.values[Int(rng.next() % UInt64(p.values.count))]
        }
        let u = rng.unit()
        switch d {
        case .uniform(let a, let b): return .double(rounded(a + u * (b - a), digits: 6))
        case .loguniform(let a, let b): return .double(rounded(exp(log(a) + u * (log(b) - log(a))), digits: 6))
        case .int(let a, let b): return .int(a + Int(rng.next() % UInt64(b - a + 1)))
        case .qloguniform(let low, let high, let q):
            let (a, b, step) = (number(low), number(high), number(q))
            let v = min(max((exp(log(a) + u * (log(b) - log(a))) / step).rounded() * step, a), b)
            if case .int = low, case .int = high, case .int = q { return .int(Int(v)) }
            return .double(rounded(v, digits: 12))
        }
    }

    static func number(_ v: GridValue) -> Double {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return 0
        }
    }

    /// To `digits` significant digits, so a drawn value reads well in argv and results
    /// (0.00316228, not 0.0031622776601683794).
    static func rounded(_ v: Double, digits: Int) -> Double {
        Double(String(format: "%.\(digits)g", v)) ?? v
    }
}
