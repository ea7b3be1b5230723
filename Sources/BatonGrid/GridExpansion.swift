import BatonRuns
import Foundation

/// Expands a spec into configs: a Cartesian product in the order the parameters are
/// written, the last parameter varying fastest (as Python's itertools.product, Hydra
/// multirun and W&B grid sweeps do). A `zip` group is one axis, at the place of its first
/// member; `repeats` adds `seed` as the last (fastest) axis; `exclude` entries drop every
/// config that matches all of their key/value pairs. `search: {random: N}` draws instead
/// (`GridRandomSearch`).
public enum GridExpansion {
    public static func expand(_ spec: GridSpec) throws -> [GridConfig] {
        if case .random(let count, let seed) = spec.search {
            return try GridRandomSearch.expand(spec, count: count, seed: seed)
        }
        // Build the axes: each is a list of partial assignments.
        var axes: [[[(String, GridValue)]]] = []
        var placed = Set<String>()
        for p in spec.parameters where !placed.contains(p.name) {
            if let group = spec.zip.first(where: { $0.contains(p.name) }) {
                let members = group.map { name in spec.parameters.first { $0.name == name }! }
                axes.append(
                    (0..<p.values.count).map { i in members.map { ($0.name, $0.values[i]) } })
                placed.formUnion(group)
            } else {
                axes.append(p.values.map { [(p.name, $0)] })
                placed.insert(p.name)
            }
        }
        let order = spec.parameters.map(\.name)
        let total = axes.reduce(1) { $0 * $1.count }
        if total > 10_000_000 {
            throw GridSpecError("the grid has \(total) configs; that is more than Baton will queue (10,000,000)",
                at: nil, file: spec.file)
        }

        var excludeHits = [Int](repeating: 0, count: spec.exclude.count)
        var configs: [GridConfig] = []
        configs.reserveCapacity(total)
        var seen: [String: Int] = [:]
        var index = [Int](repeating: 0, count: axes.count)
        for _ in 0..<total {
            var byName: [String: GridValue] = [:]
            for (a, i) in index.enumerated() { for (n, v) in axes[a][i] { byName[n] = v } }
            let params = order.map { ($0, byName[$0]!) }

            var excluded = false
            for (e, ex) in spec.exclude.enumerated() where ex.match.allSatisfy({ byName[$0.0] == $0.1 }) {
                excludeHits[e] += 1
                excluded = true
            }
            if !excluded {
                let json = GridJSON.object(params)
                let id = GridConfig.id(forCanonicalJSON: json)
                if let other = seen[id] {
                    let first = configs[other]
                    if first.paramsJSON == json {
                        throw GridSpecError(
                            "configs \(other + 1) and \(configs.count + 1) are the same after expansion (\(first.summary)); "
                                + "a parameter lists a value twice or a range repeats one",
                            at: spec.parameters.first?.location, file: spec.file)
                    }
                    throw GridSpecError(
                        "two configs hash to one id \(id) (\(first.summary) and \(params.map { "\($0.0)=\($0.1)" }.joined(separator: " "))); rename a parameter",
                        at: nil, file: spec.file)
                }
                seen[id] = configs.count
                configs.append(
                    GridConfig(
                        position: configs.count, id: id, params: params, paramsJSON: json,
                        argv: GridCommandTemplate.render(spec.command, params)))
            }
            // Odometer step: last axis fastest.
            var a = axes.count - 1
            while a >= 0 {
                index[a] += 1
                if index[a] < axes[a].count { break }
                index[a] = 0
                a -= 1
            }
        }
        for (e, hits) in excludeHits.enumerated() where hits == 0 {
            let ex = spec.exclude[e]
            throw GridSpecError(
                "this 'exclude' entry (\(ex.match.map { "\($0.0)=\($0.1)" }.joined(separator: " "))) matches no config; "
                    + "check its values against the parameters", at: ex.location, file: spec.file)
        }
        if configs.isEmpty {
            throw GridSpecError("'exclude' removes every config; nothing would run", at: nil, file: spec.file)
        }
        return configs
    }
}
