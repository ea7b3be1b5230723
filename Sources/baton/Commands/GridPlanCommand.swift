import ArgumentParser
import BatonGrid
import BatonRuns
import BatonSystem
import Foundation

struct GridPlanCommand: GridSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show the configs a spec expands to, in the order they are queued.")

    @Argument(help: "The grid spec (YAML).") var spec: String
    @Flag(help: "JSON: a list of {position, id, params, argv}.") var json = false

    func run() throws {
        let s = try GridSpec.load(path: spec)
        let configs = try GridExpansion.expand(s)
        if json {
            let list: [[String: Any]] = configs.map { c in
                var p: [String: Any] = [:]
                for (k, v) in c.params { p[k] = v.jsonObject }
                return ["position": c.position + 1, "id": c.id, "params": p, "argv": c.argv]
            }
            let data = try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
            say(String(decoding: data, as: UTF8.self))
            return
        }
        let axes = s.parameters.map { p -> String in
            let zipped = s.zip.first { $0.contains(p.name) }
            return "\(p.name) (\(p.values.count))" + (zipped.map { " zipped with \($0.filter { $0 != p.name }.joined(separator: ","))" } ?? "")
        }
        say("\(configs.count) configs: product of \(axes.joined(separator: " x ")), last varies fastest"
            + (s.exclude.isEmpty ? "" : ", \(s.exclude.count) exclude rules"))
        say("each on \(s.nodesPerConfig) node(s) x \(s.ranksPerNode) rank(s); max_retries \(s.maxRetries)"
            + (s.timeout.map { "; timeout \(formatDuration($0))" } ?? "")
            + (s.objective.map { "; objective \($0.mode.rawValue) \($0.metric)" } ?? ""))
        if let c = s.container {
            say("every rank inside \(c.image) (\(c.runtime) run\(c.options.map { " \($0)" }.joined()))")
        }
        var rows = [["#", "id"] + s.parameters.map(\.name) + ["command"]]
        for c in configs {
            rows.append([String(c.position + 1), c.id] + c.params.map { $0.1.description } + [c.argv.joined(separator: " ")])
        }
        say(GridReport.columns(rows), terminator: "")
    }
}
