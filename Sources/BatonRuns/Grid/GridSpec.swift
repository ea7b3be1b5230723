import BatonProtocol
import BatonSystem
import BatonSupport
import Foundation
import Yams

/// Where something is in a spec file: what an error points at.
public struct GridSourceLocation: Sendable, Hashable, CustomStringConvertible {
    var file: String
    var line: Int
    var column: Int
    public var description: String { "\(file):\(line):\(column)" }
}

/// A spec that cannot be used. Its description names the file, line and column and says
/// what to change; nothing is started when one is thrown.
public struct GridSpecError: BatonError, Sendable {
    public var exitCode: Int32 { ExitCodes.badInput }
    var location: GridSourceLocation?
    var file: String
    var message: String

    public init(_ message: String, at location: GridSourceLocation?, file: String) {
        self.message = message
        self.location = location
        self.file = file
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return "\(file): \(message)"
    }
}

/// One parameter of the grid and the values it takes, in the order the spec gives them.
public struct GridParameter: Sendable {
    public var name: String
    /// The values of a grid axis, or the choices of a random draw (empty for a distribution).
    public var values: [GridValue]
    /// What `search: {random: N}` draws from, when not one of `values`.
    public var distribution: GridDistribution?
    public var location: GridSourceLocation

    init(name: String, values: [GridValue], distribution: GridDistribution? = nil, location: GridSourceLocation) {
        self.name = name
        self.values = values
        self.distribution = distribution
        self.location = location
    }
}

/// A partial config to leave out of the grid.
public struct GridExclusion: Sendable {
    public var match: [(String, GridValue)]
    public var location: GridSourceLocation
}

/// What the grid optimises: a metric the command reports in `$BATON_METRICS`.
public struct GridObjective: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable { case max, min }
    public var metric: String
    public var mode: Mode
}

/// A parsed and validated grid spec (YAML). See docs/grid.md for the format.
public struct GridSpec: Sendable {
    public var file: String
    public var command: [String]
    var commandLocation: GridSourceLocation
    public var parameters: [GridParameter]
    public var zip: [[String]]
    public var exclude: [GridExclusion]
    /// Seeds added as a last parameter named `seed` (`repeats: 3` means seeds 0, 1, 2).
    public var seeds: [Int]?
    public var nodesPerConfig: Int
    public var ranksPerNode: Int
    public var objective: GridObjective?
    public var maxRetries: Int
    /// Seconds one attempt may run before it is stopped and counted as a failure.
    public var timeout: Double?
    /// `search:` grid (the default) or random.
    public var search: GridSearch = .grid
    /// `scheduler:` the early-stopping rule; nil is `fifo` (every config runs to its end).
    public var earlyStop: GridEarlyStop?
    /// `container:` every rank of every config runs inside this image (launch's `--container`,
    /// `--container-runtime`, `--container-option`, through the same `ContainerRun`).
    public var container: ContainerRun?

    static let keys = [
        "command", "parameters", "zip", "exclude", "repeats", "nodes_per_config", "ranks_per_node",
        "objective", "max_retries", "timeout", "scheduler", "search", "container",
    ]

    /// Reads and validates a spec file.
    public static func load(path: String) throws -> GridSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GridSpecError("cannot read the spec file", at: nil, file: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw GridSpecError("the spec file is not UTF-8 text", at: nil, file: path)
        }
        return try parse(text, file: path)
    }

    /// Parses spec text; `file` is the name errors give.
    public static func parse(_ text: String, file: String) throws -> GridSpec {
        let p = SpecParser(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw GridSpecError(p.describeYamlError(error), at: p.yamlErrorLocation(error), file: file)
        }
        guard let root else { throw GridSpecError("the spec is empty", at: nil, file: file) }
        return try p.spec(root)
    }
}

/// The spec as a run's store keeps it decoded (`meta.spec`, JSON), written with the run's
/// settings: what `status`, `results` and the timeline read, so they never parse the YAML.
/// The YAML itself (`meta.spec_text`) stays for `--resume`, which expands it again.
public struct GridSpecRecord: Codable, Sendable, Equatable {
    struct Parameter: Codable, Sendable, Equatable {
        var name: String
        /// The values as the spec gives them (`GridValue.description`).
        var values: [String]
    }

    var command: [String]
    var parameters: [Parameter]
    var seeds: [Int]?
    var nodesPerConfig: Int
    var ranksPerNode: Int
    public var objective: GridObjective?
    var maxRetries: Int
    var timeout: Double?
    var search: GridSearch?
    public var earlyStop: GridEarlyStop?
    public var container: ContainerRun?

    /// The store's meta key.
    public static let metaKey = "spec"

    public init(_ spec: GridSpec) {
        command = spec.command
        parameters = spec.parameters.map { p in
            Parameter(name: p.name, values: p.distribution.map { [$0.description] } ?? p.values.map(\.description))
        }
        seeds = spec.seeds
        nodesPerConfig = spec.nodesPerConfig
        ranksPerNode = spec.ranksPerNode
        objective = spec.objective
        maxRetries = spec.maxRetries
        timeout = spec.timeout
        search = spec.search == .grid ? nil : spec.search
        earlyStop = spec.earlyStop
        container = spec.container
    }

    /// The record of the YAML `text` (`null` when it does not parse: a simulated run's
    /// empty spec), as the meta value.
    package static func metaValue(specText text: String, file: String) -> String {
        guard !text.isEmpty, let spec = try? GridSpec.parse(text, file: file) else { return "null" }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(GridSpecRecord(spec))).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// The record in a store's meta; nil when the run has none (its spec did not parse).
    public static func read(_ meta: [String: String]) -> GridSpecRecord? {
        guard let text = meta[metaKey] else { return nil }
        return try? JSONDecoder().decode(GridSpecRecord.self, from: Data(text.utf8))
    }
}

/// Turns Yams nodes into a `GridSpec`, pointing every error at the node it is about.
struct SpecParser {
    let file: String

    func loc(_ node: Node) -> GridSourceLocation {
        GridSourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    func fail(_ message: String, _ node: Node) -> GridSpecError {
        GridSpecError(message, at: loc(node), file: file)
    }

    func yamlErrorLocation(_ error: YamlError) -> GridSourceLocation? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return GridSourceLocation(file: file, line: mark.line, column: mark.column)
        default: return nil
        }
    }

    func describeYamlError(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            return "not valid YAML: \(context.map { "\($0.text) " } ?? "")\(problem)"
        default: return "not valid YAML: \(error)"
        }
    }

    func mapping(_ node: Node, what: String) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard case .mapping(let m) = node else { throw fail("\(what) must be a mapping (key: value)", node) }
        var seen = Set<String>()
        return try m.map { pair in
            guard let key = pair.key.string, case .scalar = pair.key else {
                throw fail("\(what) has a key that is not a plain name", pair.key)
            }
            if !seen.insert(key).inserted { throw fail("key '\(key)' appears twice in \(what)", pair.key) }
            return (key, pair.key, pair.value)
        }
    }

    func sequence(_ node: Node, what: String) throws -> [Node] {
        guard case .sequence(let s) = node else { throw fail("\(what) must be a list", node) }
        return Array(s)
    }

    func value(_ node: Node, what: String) throws -> GridValue {
        guard case .scalar(let scalar) = node else {
            throw fail("\(what) must be a single value (number, string or boolean), not a list or mapping", node)
        }
        if scalar.style != .plain { return .string(scalar.string) }
        switch kind(node) {
        case .int:
            if let i = node.int { return .int(i) }
        case .float:
            if let d = node.float {
                guard d.isFinite else { throw fail("\(what) must be a finite number", node) }
                return .double(d)
            }
        case .bool:
            if let b = node.bool { return .bool(b) }
        case .null:
            throw fail("\(what) is empty (null); give a value", node)
        default: break
        }
        return .string(scalar.string)
    }

    /// The resolved YAML tag of a node (int, float, bool, null, str).
    func kind(_ node: Node) -> Tag.Name { Tag.Name(rawValue: node.tag.description) }

    func positiveInt(_ node: Node, what: String, allowZero: Bool = false) throws -> Int {
        guard case .scalar = node, kind(node) == .int, let i = node.int, i > 0 || (allowZero && i == 0) else {
            throw fail("\(what) must be \(allowZero ? "a whole number >= 0" : "a whole number >= 1")", node)
        }
        return i
    }

    func spec(_ root: Node) throws -> GridSpec {
        let entries = try mapping(root, what: "the spec")
        var command: [String]?
        var commandNode: Node?
        var parameters: [GridParameter]?
        var zip: [[String]] = []
        var zipNodes: [Node] = []
        var excludeNodes: [Node] = []
        var seeds: [Int]?
        var nodesPerConfig = 1
        var ranksPerNode = 1
        var objective: GridObjective?
        var maxRetries = 2
        var timeout: Double?
        var search = GridSearch.grid
        var earlyStop: GridEarlyStop?
        var container: ContainerRun?

        for (key, keyNode, value) in entries {
            switch key {
            case "command":
                commandNode = value
                if case .scalar = value {
                    throw fail(
                        "'command' must be a list of argv words, e.g. [python, train.py, --lr, \"{lr}\"]; "
                            + "it never passes through a shell", value)
                }
                let words = try sequence(value, what: "'command'")
                if words.isEmpty { throw fail("'command' is empty; give the program and its arguments", value) }
                command = try words.map { w in
                    guard case .scalar(let s) = w else { throw fail("each word of 'command' must be a string", w) }
                    return s.string
                }
            case "parameters":
                let params = try mapping(value, what: "'parameters'")
                if params.isEmpty { throw fail("'parameters' is empty; give at least one parameter", value) }
                parameters = try params.map { name, nameNode, valuesNode in
                    guard name.range(of: "^[A-Za-z_][A-Za-z0-9_.-]*$", options: .regularExpression) != nil else {
                        throw fail("parameter name '\(name)' must start with a letter or _ and hold only letters, digits, _ . -", nameNode)
                    }
                    if case .mapping(let m) = valuesNode, m.count == 1, let pair = m.first, let key = pair.key.string,
                        let d = try distribution(name: name, key: key, pair.value)
                    {
                        return GridParameter(name: name, values: [], distribution: d, location: loc(nameNode))
                    }
                    let values = try parameterValues(name: name, valuesNode)
                    return GridParameter(name: name, values: values, location: loc(nameNode))
                }
            case "zip":
                for group in try sequence(value, what: "'zip'") {
                    let names = try sequence(group, what: "each 'zip' group").map { n in
                        guard case .scalar(let s) = n else { throw fail("a 'zip' group lists parameter names", n) }
                        return s.string
                    }
                    if names.count < 2 { throw fail("a 'zip' group needs at least two parameters", group) }
                    zip.append(names)
                    zipNodes.append(group)
                }
            case "exclude":
                excludeNodes = try sequence(value, what: "'exclude'")
            case "repeats":
                if case .sequence = value {
                    let list = try sequence(value, what: "'repeats'")
                    if list.isEmpty { throw fail("'repeats' is an empty list; give seeds or a count", value) }
                    seeds = try list.map { n in
                        guard case .scalar = n, kind(n) == .int, let i = n.int else {
                            throw fail("each seed in 'repeats' must be a whole number", n)
                        }
                        return i
                    }
                } else {
                    seeds = Array(0..<(try positiveInt(value, what: "'repeats'")))
                }
            case "scheduler":
                let e = try self.earlyStop(value)
                earlyStop = e.rule == .fifo ? nil : e
            case "search": search = try self.search(value)
            case "container": container = try self.container(value)
            case "nodes_per_config": nodesPerConfig = try positiveInt(value, what: "'nodes_per_config'")
            case "ranks_per_node": ranksPerNode = try positiveInt(value, what: "'ranks_per_node'")
            case "max_retries": maxRetries = try positiveInt(value, what: "'max_retries'", allowZero: true)
            case "timeout":
                guard let s = value.string, let d = parseDuration(s), d > 0 else {
                    throw fail("'timeout' must be a duration such as 90s, 30m or 2h", value)
                }
                timeout = d
            case "objective":
                var metric: String?
                var mode = GridObjective.Mode.max
                for (k, kn, v) in try mapping(value, what: "'objective'") {
                    switch k {
                    case "metric":
                        guard case .scalar(let s) = v, !s.string.isEmpty else { throw fail("'metric' must be a metric name", v) }
                        metric = s.string
                    case "mode":
                        guard let m = v.string.flatMap(GridObjective.Mode.init(rawValue:)) else {
                            throw fail("'mode' must be max or min", v)
                        }
                        mode = m
                    default: throw fail("unknown key '\(k)' in 'objective' (expected metric, mode)", kn)
                    }
                }
                guard let metric else { throw fail("'objective' needs a 'metric'", value) }
                objective = GridObjective(metric: metric, mode: mode)
            default:
                let hint = GridSpec.keys.min { editDistance($0, key) < editDistance($1, key) }
                let suggestion = hint.map { editDistance($0, key) <= 3 ? " (did you mean '\($0)'?)" : "" } ?? ""
                throw fail(
                    "unknown key '\(key)'\(suggestion); the keys are \(GridSpec.keys.joined(separator: ", "))", keyNode)
            }
        }
        guard let command, let commandNode else {
            throw GridSpecError("the spec has no 'command' (a list of argv words)", at: loc(root), file: file)
        }
        guard var parameters else {
            throw GridSpecError("the spec has no 'parameters' (name: list of values)", at: loc(root), file: file)
        }
        let names = Set(parameters.map(\.name))
        if search == .grid, let p = parameters.first(where: { $0.distribution != nil }) {
            throw GridSpecError(
                "parameter '\(p.name)' is drawn from \(p.distribution!), which only 'search: {random: N}' uses; "
                    + "give a list of values, or set search", at: p.location, file: file)
        }
        if search != .grid, let node = zipNodes.first ?? excludeNodes.first {
            throw fail("'\(zipNodes.isEmpty ? "exclude" : "zip")' works on a grid, not with 'search: {random: N}'", node)
        }
        if earlyStop != nil, objective == nil {
            let node = entries.first { $0.key == "scheduler" }!.keyNode
            throw fail("the scheduler needs an 'objective' (metric and mode) to compare configs by", node)
        }
        if let seeds {
            if names.contains("seed") {
                throw GridSpecError(
                    "'repeats' adds a parameter named 'seed', but 'parameters' already has one; drop one of them",
                    at: parameters.first { $0.name == "seed" }!.location, file: file)
            }
            let repeatsNode = entries.first { $0.key == "repeats" }!.keyNode
            parameters.append(GridParameter(name: "seed", values: seeds.map { .int($0) }, location: loc(repeatsNode)))
        }
        let allNames = Set(parameters.map(\.name))

        // Every {name} in the command must be a parameter.
        let words = try sequence(commandNode, what: "'command'")
        for (i, word) in command.enumerated() {
            for placeholder in GridCommandTemplate.placeholders(in: word) where !allNames.contains(placeholder) {
                throw fail(
                    "placeholder {\(placeholder)} names no parameter (parameters: \(parameters.map(\.name).joined(separator: ", ")))",
                    words[i])
            }
        }

        // Zip groups: known names, each in one group, same lengths.
        var zipped = Set<String>()
        for (group, node) in Swift.zip(zip, zipNodes) {
            for name in group {
                guard let p = parameters.first(where: { $0.name == name }) else {
                    throw fail("'zip' names '\(name)', which is not a parameter", node)
                }
                if !zipped.insert(name).inserted { throw fail("'\(name)' is in more than one 'zip' group", node) }
                let first = parameters.first { $0.name == group[0] }!
                if p.values.count != first.values.count {
                    throw fail(
                        "'zip' group [\(group.joined(separator: ", "))] needs lists of one length: '\(group[0])' has \(first.values.count) values, '\(name)' has \(p.values.count)",
                        node)
                }
            }
        }

        let exclude = try excludeNodes.map { node in
            let pairs = try mapping(node, what: "each 'exclude' entry")
            if pairs.isEmpty { throw fail("an 'exclude' entry is empty; it would remove every config", node) }
            return GridExclusion(
                match: try pairs.map { k, kn, v in
                    guard allNames.contains(k) else { throw fail("'exclude' names '\(k)', which is not a parameter", kn) }
                    return (k, try value(v, what: "'\(k)' in 'exclude'"))
                }, location: loc(node))
        }

        return GridSpec(
            file: file, command: command, commandLocation: loc(commandNode), parameters: parameters, zip: zip,
            exclude: exclude, seeds: seeds, nodesPerConfig: nodesPerConfig, ranksPerNode: ranksPerNode,
            objective: objective, maxRetries: maxRetries, timeout: timeout, search: search, earlyStop: earlyStop,
            container: container)
    }

    /// `container: IMAGE` or `container: {image: IMAGE, runtime: podman, options: [...]}`: what
    /// launch's `--container`, `--container-runtime` and `--container-option` say, the same way.
    func container(_ node: Node) throws -> ContainerRun {
        func word(_ n: Node, _ what: String) throws -> String {
            guard case .scalar(let s) = n, kind(n) == .str, !s.string.isEmpty else { throw fail(what, n) }
            return s.string
        }
        let imageWhat = "the container's 'image' must be an image name (with --rootfs among the options: a root filesystem path)"
        if case .scalar = node { return ContainerRun(image: try word(node, imageWhat)) }
        var run = ContainerRun(image: "")
        for (k, kn, v) in try mapping(node, what: "'container'") {
            switch k {
            case "image": run.image = try word(v, imageWhat)
            case "runtime":
                run.runtime = try word(v, "'runtime' must be podman, docker, apptainer, enroot, or the path of an executable that runs one")
            case "options":
                let what = "'options' must be a list of the runtime's run options, e.g. [--device=baton.dev/rdma=all]"
                guard case .sequence = v else { throw fail(what, v) }
                run.options = try sequence(v, what: "'options'").map { o in
                    guard case .scalar(let s) = o, !s.string.isEmpty else { throw fail("each of 'options' must be one word (a string)", o) }
                    return s.string
                }
            default: throw fail("unknown key '\(k)' in 'container' (expected image, runtime, options)", kn)
            }
        }
        if run.image.isEmpty { throw fail("'container' needs an 'image'", node) }
        return run
    }

    func parameterValues(name: String, _ node: Node) throws -> [GridValue] {
        switch node {
        case .sequence:
            let items = try sequence(node, what: "parameter '\(name)'")
            if items.isEmpty { throw fail("parameter '\(name)' has no values; give at least one", node) }
            return try items.map { try value($0, what: "a value of '\(name)'") }
        case .mapping:
            var range: (GridValue, GridValue, Node)?
            var step: (GridValue, Node)?
            for (k, kn, v) in try mapping(node, what: "parameter '\(name)'") {
                switch k {
                case "range":
                    let ends = try sequence(v, what: "'range'")
                    guard ends.count == 2 else { throw fail("'range' takes [start, stop] (stop excluded)", v) }
                    range = (try value(ends[0], what: "range start"), try value(ends[1], what: "range stop"), v)
                case "step": step = (try value(v, what: "'step'"), v)
                case "values", "choice":
                    let items = try sequence(v, what: "'values'")
                    if items.isEmpty { throw fail("parameter '\(name)' has no values; give at least one", v) }
                    return try items.map { try value($0, what: "a value of '\(name)'") }
                default: throw fail("unknown key '\(k)' in parameter '\(name)' (expected values, choice, range and step, or a distribution: uniform, loguniform, int, qloguniform)", kn)
                }
            }
            guard let (start, stop, rangeNode) = range else {
                throw fail("parameter '\(name)' needs a list of values, or {range: [start, stop], step: s}", node)
            }
            let values = try expandRange(start, stop, step?.0 ?? .int(1), at: step?.1 ?? rangeNode)
            if values.isEmpty {
                throw fail("parameter '\(name)': range [\(start), \(stop)) with step \(step?.0 ?? .int(1)) has no values", rangeNode)
            }
            return values
        default:
            throw fail("parameter '\(name)' needs a list of values, not a single value (write [\(node.string ?? "")])", node)
        }
    }

    func number(_ v: GridValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Python-like range: stop excluded. Integer ends and step give integers; otherwise
    /// doubles, each computed as start + i*step and rounded to 12 significant digits so that
    /// 0.1 steps do not drift (0.30000000000000004).
    func expandRange(_ start: GridValue, _ stop: GridValue, _ step: GridValue, at node: Node) throws -> [GridValue] {
        guard let a = number(start), let b = number(stop), let s = number(step) else {
            throw fail("'range' and 'step' must be numbers", node)
        }
        if s == 0 { throw fail("'step' must not be 0", node) }
        let count = Int(((b - a) / s - 1e-9).rounded(.up))
        if count <= 0 { return [] }
        if count > 1_000_000 { throw fail("this range has \(count) values; that is too many for a grid", node) }
        if case .int(let ia) = start, case .int = stop, case .int(let istep) = step {
            return (0..<count).map { .int(ia + $0 * istep) }
        }
        return (0..<count).map { i in
            let v = a + Double(i) * s
            return .double(Double(String(format: "%.12g", v)) ?? v)
        }
    }

    func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}


/// `{name}` placeholders in command words.
public enum GridCommandTemplate {
    static func placeholders(in word: String) -> [String] {
        var out: [String] = []
        var rest = word[...]
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            let name = String(after[..<close])
            if !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) {
                out.append(name)
            }
            rest = after[after.index(after: close)...]
        }
        return out
    }

    /// Substitutes each `{name}` that names a parameter, in one pass over the word (a
    /// value is put in as it is: a `{b}` inside the value of `a` stays `{b}`). Other braces
    /// stay. (One pass, not `replacingOccurrences` per parameter: that went through NSString
    /// and was half the CPU time of expanding a 100,000-config grid.)
    public static func render(_ words: [String], _ params: [(String, GridValue)]) -> [String] {
        words.map { word in
            let bytes = Array(word.utf8)
            guard bytes.contains(UInt8(ascii: "{")) else { return word }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + 16)
            var i = 0
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "{"), let close = bytes[(i + 1)...].firstIndex(of: UInt8(ascii: "}")),
                    let value = params.first(where: { $0.0.utf8.elementsEqual(bytes[(i + 1)..<close]) })?.1
                {
                    out.append(contentsOf: value.description.utf8)
                    i = close + 1
                } else {
                    out.append(bytes[i])
                    i += 1
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
