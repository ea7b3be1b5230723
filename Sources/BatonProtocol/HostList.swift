// FoundationEssentials only: baton-exec, which every rank starts, links this module.
import BatonSystem
import FoundationEssentials
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One node of a job: its name as mpirun and the rsh agent see it, and how many ranks it runs.
public struct Host: Sendable, Hashable, Codable {
    public var name: String
    public var slots: Int

    public init(name: String, slots: Int) {
        self.name = name
        self.slots = slots
    }

    /// `name:slots`, the form `-H` and `BATON_NODES` use.
    public var spec: String { "\(name):\(slots)" }
}

/// Bad host input, with the place it was found (a file, `-H`, or `SLURM_JOB_NODELIST`),
/// 1-based line and column.
public struct HostListError: Error, Sendable, Equatable, CustomStringConvertible {
    var source: String
    var line: Int
    var column: Int
    var message: String

    public init(source: String, line: Int, column: Int, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(source):\(line):\(column): \(message)" }
}

/// The hosts of a job, read from one of the formats users already have: an Open MPI /
/// DeepSpeed hostfile, Horovod's `-H h1:2,h2:4`, Slurm's compressed `SLURM_JOB_NODELIST`,
/// or `--local N` (simulated nodes on this machine).
public struct HostList: Sendable, Equatable, Codable {

    public var hosts: [Host]

    public init(hosts: [Host]) {
        self.hosts = hosts
    }

    public var totalSlots: Int { hosts.reduce(0) { $0 + $1.slots } }
    public var names: [String] { hosts.map(\.name) }

    /// Every host with `slots` ranks (`--nproc-per-node`).
    public func withSlots(_ slots: Int) -> HostList {
        HostList(hosts: hosts.map { Host(name: $0.name, slots: slots) })
    }

    /// The hosts without those named in `lost`, order kept.
    public func removing(_ lost: Set<String>) -> HostList {
        HostList(hosts: hosts.filter { !lost.contains($0.name) })
    }

    /// `N` simulated nodes named `local-0` ... `local-(N-1)` with one slot each.
    public static func local(count: Int) -> HostList {
        HostList(hosts: (0..<max(count, 0)).map { Host(name: "local-\($0)", slots: 1) })
    }

    // MARK: - Names

    /// Host names are DNS-like: letters, digits, `.`, `-`, `_`, starting with a letter or
    /// digit. Anything else (a space, `;`, `$`, a quote, ...) is refused, so a name can be
    /// handed to mpirun and an rsh agent without any quoting question.
    static func nameProblem(_ name: String) -> (offset: Int, message: String)? {
        if name.isEmpty { return (0, "empty host name") }
        if name.utf8.count > 253 { return (0, "host name longer than 253 characters") }
        for (i, ch) in name.unicodeScalars.enumerated() {
            let ok = (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9")
                || ch == "." || ch == "-" || ch == "_"
            if !ok {
                let shown = ch.properties.isWhitespace || ch.value < 32 ? "U+\(String(ch.value, radix: 16, uppercase: true))" : "'\(ch)'"
                return (i, "character \(shown) is not allowed in a host name (letters, digits, '.', '-', '_' only)")
            }
            if i == 0 && (ch == "-" || ch == "." || ch == "_") {
                return (0, "a host name must start with a letter or digit")
            }
        }
        return nil
    }

    // MARK: - Hostfile

    /// Reads an Open MPI / DeepSpeed hostfile at `path`.
    public static func hostfile(at path: String) throws(HostListError) -> HostList {
        guard let bytes = readFile(path, from: 0) else {
            throw HostListError(source: path, line: 1, column: 1, message: "cannot read the hostfile: \(String(cString: strerror(errno)))")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return try parseHostfile(text, source: path)
    }

    /// Parses hostfile text: one host a line, `host [slots=N] [max_slots=M]`, `#` starts a
    /// comment, blank lines are ignored. A host without `slots` gets one slot.
    static func parseHostfile(_ text: String, source: String) throws(HostListError) -> HostList {
        var hosts: [Host] = []
        var seen: [String: Int] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNo = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let tokens = tokenize(line)
            guard let first = tokens.first else { continue }
            func fail(_ column: Int, _ message: String) -> HostListError {
                HostListError(source: source, line: lineNo, column: column, message: message)
            }
            if let problem = nameProblem(String(first.text)) {
                throw fail(first.column + problem.offset, problem.message)
            }
            let name = String(first.text)
            if let previous = seen[name] {
                throw fail(first.column, "host '\(name)' is listed twice (first on line \(previous)); give it one line with slots=N")
            }
            var slots = 1
            var maxSlots: Int?
            for token in tokens.dropFirst() {
                guard let eq = token.text.firstIndex(of: "=") else {
                    throw fail(token.column, "unknown syntax '\(token.text)': expected key=value (slots=N or max_slots=M)")
                }
                let key = token.text[..<eq]
                let valueText = token.text[token.text.index(after: eq)...]
                let valueColumn = token.column + key.count + 1
                switch key {
                case "slots", "max_slots", "max-slots":
                    guard let value = Int(valueText), value >= 0 else {
                        throw fail(valueColumn, "\(key) must be a whole number, got '\(valueText)'")
                    }
                    guard value >= 1 else {
                        throw fail(valueColumn, "\(key)=0: a host needs at least one slot (remove the line to leave the host out)")
                    }
                    if key == "slots" { slots = value } else { maxSlots = value }
                default:
                    throw fail(token.column, "unknown key '\(key)' (known: slots, max_slots)")
                }
            }
            if let maxSlots, maxSlots < slots {
                throw fail(first.column, "max_slots=\(maxSlots) is below slots=\(slots)")
            }
            seen[name] = lineNo
            hosts.append(Host(name: name, slots: slots))
        }
        if hosts.isEmpty {
            throw HostListError(source: source, line: max(lines.count, 1), column: 1, message: "no hosts in the hostfile (only blank lines or comments)")
        }
        return HostList(hosts: hosts)
    }

    private struct Token { var text: Substring; var column: Int }

    private static func tokenize(_ line: Substring) -> [Token] {
        var tokens: [Token] = []
        var start: Substring.Index?
        var startColumn = 0
        var column = 0
        for i in line.indices {
            column += 1
            if line[i] == " " || line[i] == "\t" {
                if let s = start { tokens.append(Token(text: line[s..<i], column: startColumn)); start = nil }
            } else if start == nil {
                start = i
                startColumn = column
            }
        }
        if let s = start { tokens.append(Token(text: line[s...], column: startColumn)) }
        return tokens
    }

    // MARK: - -H h1:2,h2:4

    /// Parses Horovod's `-H h1:2,h2:4` (a host without `:N` gets one slot).
    public static func parseHostSpec(_ spec: String, source: String = "-H") throws(HostListError) -> HostList {
        var hosts: [Host] = []
        var seen = Set<String>()
        var column = 1
        func fail(_ col: Int, _ message: String) -> HostListError {
            HostListError(source: source, line: 1, column: col, message: message)
        }
        if spec.unicodeScalars.allSatisfy({ $0 == "\t" || $0.properties.generalCategory == .spaceSeparator }) { throw fail(1, "no hosts given") }
        for part in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let partColumn = column
            column += part.count + 1
            if part.isEmpty { throw fail(partColumn, "empty entry between commas") }
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            if pieces.count > 2 { throw fail(partColumn, "unknown syntax '\(part)': expected host or host:slots") }
            let name = String(pieces[0])
            if let problem = nameProblem(name) { throw fail(partColumn + problem.offset, problem.message) }
            var slots = 1
            if pieces.count == 2 {
                let slotColumn = partColumn + pieces[0].count + 1
                guard let n = Int(pieces[1]), n >= 0 else {
                    throw fail(slotColumn, "slots must be a whole number, got '\(pieces[1])'")
                }
                guard n >= 1 else { throw fail(slotColumn, "\(name):0: a host needs at least one slot") }
                slots = n
            }
            if !seen.insert(name).inserted { throw fail(partColumn, "host '\(name)' is listed twice") }
            hosts.append(Host(name: name, slots: slots))
        }
        return HostList(hosts: hosts)
    }

    // MARK: - Slurm

    /// Expands Slurm's compressed node list, e.g. `node[01-04,07],gpu-a[1-2]` (zero padding
    /// kept), each node with `slots` slots.
    public static func parseSlurmNodelist(_ list: String, slots: Int = 1, source: String = "SLURM_JOB_NODELIST") throws(HostListError) -> HostList {
        func fail(_ col: Int, _ message: String) -> HostListError {
            HostListError(source: source, line: 1, column: col, message: message)
        }
        let chars = Array(list)
        var names: [String] = []
        var i = 0
        // Split on commas that are outside brackets.
        while i < chars.count {
            let startColumn = i + 1
            var prefix = ""
            var expanded: [String] = []
            var sawBracket = false
            while i < chars.count && chars[i] != "," {
                if chars[i] == "[" {
                    guard let close = chars[i...].firstIndex(of: "]") else { throw fail(i + 1, "'[' without ']'") }
                    let inner = String(chars[(i + 1)..<close])
                    var items: [String] = []
                    var col = i + 2
                    for range in inner.split(separator: ",", omittingEmptySubsequences: false) {
                        let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
                        if bounds.count == 1, !bounds[0].isEmpty, bounds[0].allSatisfy(\.isNumber) {
                            items.append(String(bounds[0]))
                        } else if bounds.count == 2, let lo = Int(bounds[0]), let hi = Int(bounds[1]), lo <= hi,
                                  bounds[0].allSatisfy(\.isNumber), bounds[1].allSatisfy(\.isNumber) {
                            let width = bounds[0].count
                            for n in lo...hi {
                                let s = String(n)
                                items.append(String(repeating: "0", count: max(0, width - s.count)) + s)
                            }
                        } else {
                            throw fail(col, "unknown syntax '\(range)' in brackets: expected N or N-M with N <= M")
                        }
                        col += range.count + 1
                    }
                    let base = sawBracket ? expanded : [prefix]
                    expanded = base.flatMap { b in items.map { b + $0 } }
                    prefix = ""
                    sawBracket = true
                    i = close + 1
                } else {
                    if sawBracket { expanded = expanded.map { $0 + String(chars[i]) } } else { prefix.append(chars[i]) }
                    i += 1
                }
            }
            let group = sawBracket ? expanded : [prefix]
            for name in group {
                if let problem = nameProblem(name) { throw fail(startColumn, "'\(name)': \(problem.message)") }
                if names.contains(name) { throw fail(startColumn, "host '\(name)' is listed twice") }
                names.append(name)
            }
            i += 1  // skip the comma
            if i == chars.count && chars.last == "," { throw fail(i, "empty entry after the last comma") }
        }
        if names.isEmpty { throw fail(1, "no hosts in the node list") }
        return HostList(hosts: names.map { Host(name: $0, slots: slots) })
    }

    /// Parses `BATON_NODES`-style `name:slots,name:slots` (what the head passes to `baton exec`).
    public static func parseNodesSpec(_ spec: String) -> HostList? {
        try? parseHostSpec(spec, source: "BATON_NODES")
    }
}
