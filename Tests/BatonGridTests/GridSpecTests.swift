import Testing
@testable import BatonGrid
@testable import BatonRuns
import BatonProtocol

@Suite("Grid spec and expansion")
struct GridSpecTests {
    func parse(_ text: String) throws -> GridSpec { try GridSpec.parse(text, file: "spec.yaml") }

    func error(_ text: String) -> GridSpecError? {
        do {
            _ = try GridExpansion.expand(try parse(text))
            return nil
        } catch let e as GridSpecError {
            return e
        } catch {
            return nil
        }
    }

    @Test("expansion is a Cartesian product with the last parameter varying fastest")
    func productOrder() throws {
        let spec = try parse(
            """
            command: [train, --lr, "{lr}", --bs, "{bs}"]
            parameters:
              lr: [0.1, 0.01]
              bs: [16, 32, 64]
            """)
        let configs = try GridExpansion.expand(spec)
        #expect(configs.map(\.summary) == [
            "lr=0.1 bs=16", "lr=0.1 bs=32", "lr=0.1 bs=64", "lr=0.01 bs=16", "lr=0.01 bs=32", "lr=0.01 bs=64",
        ])
        #expect(configs[1].argv == ["train", "--lr", "0.1", "--bs", "32"])
        #expect(configs[1].paramsJSON == #"{"bs":32,"lr":0.1}"#)
    }

    @Test("config ids do not change when parameters are reordered or the grid is extended")
    func stableIDs() throws {
        let a = try GridExpansion.expand(try parse("command: [t]\nparameters:\n  lr: [0.1, 0.2]\n  bs: [1, 2]\n"))
        let b = try GridExpansion.expand(try parse("command: [t]\nparameters:\n  bs: [2, 1, 4]\n  lr: [0.2, 0.1]\n"))
        let idsA = Dictionary(uniqueKeysWithValues: a.map { ($0.paramsJSON, $0.id) })
        let idsB = Dictionary(uniqueKeysWithValues: b.map { ($0.paramsJSON, $0.id) })
        for (json, id) in idsA { #expect(idsB[json] == id) }
        #expect(Set(a.map(\.id)).count == 4)
        #expect(a[0].id.count == 12)
    }

    @Test("zip groups vary together, repeats add a fastest seed axis, exclude drops matches")
    func zipRepeatsExclude() throws {
        let configs = try GridExpansion.expand(
            try parse(
                """
                command: [t, "{lr}", "{warmup}", "{opt}", "{seed}"]
                parameters:
                  lr: [0.1, 0.2]
                  opt: [sgd, adam]
                  warmup: [10, 20]
                zip: [[lr, warmup]]
                exclude:
                  - {lr: 0.2, opt: adam}
                repeats: 2
                """))
        #expect(configs.map(\.summary) == [
            "lr=0.1 opt=sgd warmup=10 seed=0", "lr=0.1 opt=sgd warmup=10 seed=1",
            "lr=0.1 opt=adam warmup=10 seed=0", "lr=0.1 opt=adam warmup=10 seed=1",
            "lr=0.2 opt=sgd warmup=20 seed=0", "lr=0.2 opt=sgd warmup=20 seed=1",
        ])
    }

    @Test("ranges exclude their stop and do not drift on decimal steps")
    func ranges() throws {
        let spec = try parse(
            """
            command: [t]
            parameters:
              n: {range: [1, 7], step: 2}
              x: {range: [0, 0.4], step: 0.1}
            """)
        #expect(spec.parameters[0].values == [.int(1), .int(3), .int(5)])
        #expect(spec.parameters[1].values == [.double(0), .double(0.1), .double(0.2), .double(0.3)])
    }

    @Test("settings are read: objective, retries, timeout, nodes and ranks")
    func settings() throws {
        let spec = try parse(
            """
            command: [t]
            parameters: {a: [1]}
            objective: {metric: accuracy, mode: max}
            max_retries: 1
            timeout: 30m
            nodes_per_config: 2
            ranks_per_node: 4
            """)
        #expect(spec.objective == GridObjective(metric: "accuracy", mode: .max))
        #expect(spec.maxRetries == 1)
        #expect(spec.timeout == 1800)
        #expect(spec.nodesPerConfig == 2)
        #expect(spec.ranksPerNode == 4)
    }

    @Test("an unknown key is reported with its line and column and a suggestion")
    func unknownKey() {
        let e = error("command: [t]\nparameters: {a: [1]}\nmax_retrys: 3\n")
        #expect(e?.description.hasPrefix("spec.yaml:3:1: unknown key 'max_retrys'") == true)
        #expect(e?.description.contains("did you mean 'max_retries'") == true)
    }

    @Test("container: an image, or image, runtime and options as launch's flags; kept in the stored record")
    func container() throws {
        #expect(try parse("command: [t]\nparameters: {a: [1]}\ncontainer: registry/train:1\n").container
            == ContainerRun(image: "registry/train:1"))
        let spec = try parse(
            """
            command: [t]
            parameters: {a: [1]}
            container:
              image: /
              runtime: /opt/podman-wrapper
              options: [--rootfs, --ulimit=nofile=20000:20000, "--device=baton.dev/rdma=all"]
            """)
        let expected = ContainerRun(image: "/", runtime: "/opt/podman-wrapper",
                                    options: ["--rootfs", "--ulimit=nofile=20000:20000", "--device=baton.dev/rdma=all"])
        #expect(spec.container == expected)
        #expect(GridSpecRecord(spec).container == expected)
        #expect(try parse("command: [t]\nparameters: {a: [1]}\n").container == nil)
    }

    @Test("container: every mistake is named at its file, line and column")
    func containerErrors() {
        let head = "command: [t]\nparameters: {a: [1]}\n"
        let cases: [(String, Int, Int, String)] = [
            ("container:\n  runtime: podman\n", 4, 3, "'container' needs an 'image'"),
            ("container:\n  image: i\n  volumes: [/x]\n", 5, 3, "unknown key 'volumes' in 'container' (expected image, runtime, options)"),
            ("container:\n  image: i\n  options: --rootfs\n", 5, 12, "'options' must be a list"),
            ("container:\n  image: i\n  options: [[a]]\n", 5, 13, "each of 'options' must be one word"),
            ("container:\n  image: 12\n", 4, 10, "'image' must be an image name"),
            ("container:\n  image: i\n  runtime: \"\"\n", 5, 12, "'runtime' must be podman, docker"),
            ("container: [a, b]\n", 3, 12, "'container' must be a mapping"),
            ("container: \"\"\n", 3, 12, "'image' must be an image name"),
        ]
        for (text, line, column, message) in cases {
            let e = error(head + text)
            #expect(e?.location?.line == line && e?.location?.column == column, "\(text): \(e?.description ?? "no error")")
            #expect(e?.message.contains(message) == true, "\(text): \(e?.description ?? "no error")")
            #expect(e?.description.hasPrefix("spec.yaml:\(line):\(column): ") == true)
        }
    }

    @Test("a parameter with no values is an error at that parameter")
    func emptyValues() {
        let e = error("command: [t]\nparameters:\n  a: [1]\n  b: []\n")
        #expect(e?.location?.line == 4)
        #expect(e?.message.contains("'b' has no values") == true)
    }

    @Test("a placeholder that names no parameter is an error at that command word")
    func unknownPlaceholder() {
        let e = error("command: [t, \"{lr}\", \"{bs}\"]\nparameters:\n  lr: [1]\n")
        #expect(e?.location?.line == 1)
        #expect(e?.location?.column == 22)
        #expect(e?.message.contains("{bs}") == true)
    }

    @Test("an exclude entry that matches no config is an error at that entry")
    func excludeMatchesNothing() {
        let e = error("command: [t]\nparameters:\n  a: [1, 2]\nexclude:\n  - {a: 3}\n")
        #expect(e?.location?.line == 5)
        #expect(e?.message.contains("matches no config") == true)
    }

    @Test("duplicate configs after expansion are an error")
    func duplicates() {
        let e = error("command: [t]\nparameters:\n  a: [1, 2, 1]\n")
        #expect(e?.message.contains("the same after expansion") == true)
    }

    @Test("invalid YAML is reported with a position; a string command is refused")
    func badYAML() {
        let e = error("command: [t\nparameters: {a: [1]}\n")
        #expect(e?.location != nil)
        #expect(e?.message.contains("not valid YAML") == true)
        let s = error("command: python train.py\nparameters: {a: [1]}\n")
        #expect(s?.message.contains("list of argv words") == true)
    }

    @Test("types are kept: quoted numbers are strings, 1 and 1.0 differ")
    func types() throws {
        let spec = try parse("command: [t]\nparameters:\n  a: [1, 1.0, \"1\", true]\n")
        #expect(spec.parameters[0].values == [.int(1), .double(1), .string("1"), .bool(true)])
        #expect(try GridExpansion.expand(spec).count == 4)
    }

    @Test("canonical parameter JSON reads back to the same values")
    func jsonRoundTrip() {
        let pairs: [(String, GridValue)] = [("a", .int(3)), ("b", .double(0.5)), ("c", .string("x\"y")), ("d", .bool(false))]
        let back = GridJSON.parseObject(GridJSON.object(pairs))
        #expect(back.map(\.0) == ["a", "b", "c", "d"])
        #expect(back.map(\.1) == pairs.map(\.1))
    }
}
