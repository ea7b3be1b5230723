import Foundation
import Testing

/// docs/ARCHITECTURE.md's list of targets (between `<!-- targets:begin -->` and
/// `<!-- targets:end -->`) is the package's: the same library and executable targets, each
/// with the same Baton-target dependencies, in layer order (every dependency on a line above).
@Suite("Architecture page")
struct ArchitectureTests {
    /// The package root: this file is `Tests/BatonCLITests/ArchitectureTests.swift`.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("the page lists exactly the package's library and executable targets, each with exactly its Baton-target dependencies")
    func pageMatchesPackage() throws {
        let manifest = ManifestTargets.parse(try Self.read("Package.swift"))
        let page = try #require(ArchitecturePage.parse(try Self.read("docs/ARCHITECTURE.md")), "no targets section")
        #expect(!manifest.isEmpty)
        #expect(Set(page.map(\.name)).count == page.count, "a target listed twice")
        let listed = Dictionary(page.map { ($0.name, Set($0.dependencies)) }, uniquingKeysWith: { a, _ in a })
        #expect(Set(listed.keys) == Set(manifest.keys), "targets: the page and Package.swift differ")
        for (name, deps) in manifest.sorted(by: { $0.key < $1.key }) {
            guard let onPage = listed[name] else { continue }
            #expect(onPage == deps, "\(name): the page says \(onPage.sorted()), Package.swift \(deps.sorted())")
        }
    }

    @Test("the page lists the targets in layer order, lowest first: each names only targets above it, in their order")
    func pageIsInLayerOrder() throws {
        let page = try #require(ArchitecturePage.parse(try Self.read("docs/ARCHITECTURE.md")), "no targets section")
        let position = Dictionary(page.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, entry) in page.enumerated() {
            let at = entry.dependencies.map { position[$0] ?? Int.max }
            #expect(at.allSatisfy { $0 < i }, "\(entry.name) names a target that is not above it")
            #expect(at == at.sorted(), "\(entry.name): dependencies not in layer order, lowest first")
        }
    }

    @Test("the manifest reader: .target and .executableTarget with their target dependencies; products, test targets, system libraries and comments left out")
    func manifestReader() {
        let text = """
            targets: [
                .systemLibrary(name: "CZ", path: "C/CZ", pkgConfig: "z"),
                // .target(name: "Commented", dependencies: ["A"]),
                .target(name: "A"),
                .target(name: "B", dependencies: ["A", "CZ", .product(name: "GRDB", package: "GRDB.swift")]),
                .executableTarget(
                    name: "c-tool",
                    dependencies: [
                        "B", .target(name: "A"),
                        .product(name: "ArgumentParser", package: "swift-argument-parser"),
                    ]),
                .testTarget(name: "BTests", dependencies: ["B"]),
            ]
            """
        #expect(ManifestTargets.parse(text) == ["A": [], "B": ["A"], "c-tool": ["A", "B"]])
    }

    @Test("the page reader: the lines between the markers that start with '- ', names before the colon")
    func pageReader() {
        let text = """
            # Architecture
            - Outside: X
            <!-- targets:begin -->
            Some words.

            - A:
            - B: A
            - c-tool: A, B
            <!-- targets:end -->
            """
        let page = ArchitecturePage.parse(text)
        #expect(page?.map(\.name) == ["A", "B", "c-tool"])
        #expect(page?.map(\.dependencies) == [[], ["A"], ["A", "B"]])
        #expect(ArchitecturePage.parse("# Architecture\n- A:\n") == nil)
    }
}

/// The library and executable targets of a Package.swift, read as text, each with the
/// dependencies that are targets of the package (a `.product(...)`, and a name that is not
/// a `.target` or `.executableTarget` of the file, such as a C system library, is left out).
///
/// Limits (it reads this package's manifest, not any manifest): whole-line `//` comments are
/// skipped, but not trailing comments or `/* */`; names must be string literals right after
/// `name:`; a dependency is any string literal in the `dependencies: [...]` array outside a
/// `.product(...)` (so `.target(name:)` and `.byName(name:)` count, conditions such as
/// `condition: .when(platforms:)` do not take strings); targets built from variables,
/// loops or conditional code are not seen; parentheses and brackets inside string literals
/// would confuse the matching.
enum ManifestTargets {
    static func parse(_ text: String) -> [String: Set<String>] {
        let code = Array(text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//") }
            .joined(separator: "\n"))
        var found: [(name: String, kind: String, deps: [String])] = []
        var i = 0
        while let call = nextCall(in: code, from: i) {
            let end = closing(in: code, from: call.open, open: "(", close: ")") ?? code.count
            let body = String(code[(call.open + 1)..<min(end, code.count)])
            if let name = firstMatch(#"name:\s*"([^"]+)""#, in: body) {
                found.append((name, call.kind, dependencies(in: body)))
            }
            i = end  // past the whole call: a `.target(name:)` dependency is not a target
        }
        let targets = found.filter { $0.kind == "target" || $0.kind == "executableTarget" }
        let names = Set(targets.map(\.name))
        return Dictionary(targets.map { ($0.name, Set($0.deps).intersection(names)) }, uniquingKeysWith: { a, _ in a })
    }

    /// The next `.target(`, `.executableTarget(`, `.testTarget(` or `.systemLibrary(` at or
    /// after `from`: its kind and the position of its `(`.
    static func nextCall(in code: [Character], from: Int) -> (kind: String, open: Int)? {
        let kinds = ["target", "executableTarget", "testTarget", "systemLibrary"]
        var i = from
        while i < code.count {
            if code[i] == "." {
                for kind in kinds {
                    let word = Array(kind + "(")
                    if i + 1 + word.count <= code.count, Array(code[(i + 1)..<(i + 1 + word.count)]) == word {
                        return (kind, i + word.count)
                    }
                }
            }
            i += 1
        }
        return nil
    }

    /// The position of the bracket closing the one at `from`.
    static func closing(in code: [Character], from: Int, open: Character, close: Character) -> Int? {
        var depth = 0
        for i in from..<code.count {
            if code[i] == open { depth += 1 }
            if code[i] == close { depth -= 1; if depth == 0 { return i } }
        }
        return nil
    }

    static func dependencies(in body: String) -> [String] {
        let chars = Array(body)
        guard let range = body.range(of: #"dependencies:\s*\["#, options: .regularExpression) else { return [] }
        let open = body.distance(from: body.startIndex, to: range.upperBound) - 1
        guard let close = closing(in: chars, from: open, open: "[", close: "]") else { return [] }
        let array = String(chars[(open + 1)..<close])
            .replacingOccurrences(of: #"\.product\([^)]*\)"#, with: "", options: .regularExpression)
        return allMatches(#""([^"]+)""#, in: array)
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? { allMatches(pattern, in: text).first }

    static func allMatches(_ pattern: String, in text: String) -> [String] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { ns.substring(with: $0.range(at: 1)) }
    }
}

/// The targets section of docs/ARCHITECTURE.md: between `<!-- targets:begin -->` and
/// `<!-- targets:end -->`, every line starting with `- ` is `- Name: Dep1, Dep2` (nothing
/// after the colon: no dependencies); other lines are prose. Nil without both markers.
enum ArchitecturePage {
    struct Entry: Equatable {
        var name: String
        var dependencies: [String]
    }

    static func parse(_ text: String) -> [Entry]? {
        guard let begin = text.range(of: "<!-- targets:begin -->"),
              let end = text.range(of: "<!-- targets:end -->", range: begin.upperBound..<text.endIndex)
        else { return nil }
        return text[begin.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line in
            guard line.hasPrefix("- ") else { return nil }
            let parts = line.dropFirst(2).split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let deps = parts.count > 1 ? parts[1].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : []
            return Entry(name: parts[0].trimmingCharacters(in: .whitespaces), dependencies: deps.filter { !$0.isEmpty })
        }
    }
}
