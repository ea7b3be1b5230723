import Testing
@testable import BatonGrid
@testable import BatonRuns

@Suite("Grid spec: scheduler and random search")
struct GridSearchSpecTests {
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

    static let random = """
        command: [t, "{lr}", "{hidden}", "{layers}", "{wd}", "{bs}", "{opt}"]
        parameters:
          lr: {loguniform: [0.001, 0.1]}
          hidden: {choice: [16, 32, 64]}
          layers: {int: [1, 4]}
          wd: {uniform: [0, 0.1]}
          bs: {qloguniform: [16, 256, 16]}
          opt: [sgd, adam]
        search: {random: N, seed: 7}
        objective: {metric: loss, mode: min}
        scheduler: {type: asha, time_attr: epoch, grace: 1, reduction_factor: 3, max_t: 27}
        """

    func randomSpec(_ n: Int, seed: Int = 7) throws -> GridSpec {
        try parse(Self.random.replacingOccurrences(of: "random: N", with: "random: \(n)")
            .replacingOccurrences(of: "seed: 7", with: "seed: \(seed)"))
    }

    @Test("scheduler settings are read; a bare name takes the defaults; fifo is no early stopping")
    func schedulerSettings() throws {
        let e = try #require(try randomSpec(3).earlyStop)
        #expect(e.rule == .asha && e.timeAttr == "epoch" && e.grace == 1 && e.reductionFactor == 3 && e.maxT == 27 && e.brackets == 1)
        let m = try #require(try parse("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: median\n").earlyStop)
        #expect(m.rule == .median && m.timeAttr == "step" && m.minSamples == 3 && m.dispatchOrder == .shuffled)
        let spec = try #require(try parse("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: asha, order: spec}\n").earlyStop)
        #expect(spec.order == .spec)
        #expect(try parse("command: [t]\nparameters: {a: [1]}\nscheduler: fifo\n").earlyStop == nil)
        // The store's record keeps them for status and results.
        let record = GridSpecRecord(try randomSpec(3))
        #expect(record.earlyStop?.rule == .asha && record.search == .random(count: 3, seed: 7))
        #expect(record.parameters[0].values == ["loguniform(0.001, 0.1)"])
    }

    @Test("scheduler errors name file, line and column")
    func schedulerErrors() {
        let noObjective = error("command: [t]\nparameters: {a: [1]}\nscheduler: asha\n")
        #expect(noObjective?.description.hasPrefix("spec.yaml:3:1: the scheduler needs an 'objective'") == true)
        let badType = error("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: hyperband}\n")
        #expect(badType?.description.hasPrefix("spec.yaml:4:19: 'type' must be one of fifo, asha, median") == true)
        let wrongKey = error("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: median, max_t: 9}\n")
        #expect(wrongKey?.description.hasPrefix("spec.yaml:4:27: 'max_t' is not a setting of the median scheduler") == true)
        let badEta = error("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: asha, reduction_factor: 1}\n")
        #expect(badEta?.location?.line == 4)
        #expect(badEta?.message.contains("'reduction_factor' must be a number > 1") == true)
        let badOrder = error("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: asha, order: random}\n")
        #expect(badOrder?.description.hasPrefix("spec.yaml:4:32: 'order' must be shuffled or spec") == true, "\(String(describing: badOrder))")
        let brackets = error("command: [t]\nparameters: {a: [1]}\nobjective: {metric: l}\nscheduler: {type: asha, max_t: 9, brackets: 3}\n")
        #expect(brackets?.message.contains("bracket 2 would start at 9") == true)
    }

    @Test("random search is reproducible for a seed, differs for another, and draws inside the bounds")
    func randomReproducible() throws {
        let a = try GridExpansion.expand(try randomSpec(20))
        let b = try GridExpansion.expand(try randomSpec(20))
        #expect(a.count == 20)
        #expect(a.map(\.id) == b.map(\.id))
        #expect(a.map(\.argv) == b.map(\.argv))
        let other = try GridExpansion.expand(try randomSpec(20, seed: 8))
        #expect(Set(other.map(\.id)).isDisjoint(with: Set(a.map(\.id))))
        for c in a {
            let p = Dictionary(uniqueKeysWithValues: c.params)
            guard case .double(let lr)? = p["lr"], case .int(let hidden)? = p["hidden"], case .int(let layers)? = p["layers"],
                  case .double(let wd)? = p["wd"], case .int(let bs)? = p["bs"], case .string(let opt)? = p["opt"]
            else {
                Issue.record("unexpected types in \(c.summary)")
                continue
            }
            #expect(lr >= 0.001 && lr <= 0.1)
            #expect([16, 32, 64].contains(hidden))
            #expect((1...4).contains(layers))
            #expect(wd >= 0 && wd <= 0.1)
            #expect(bs >= 16 && bs <= 256 && bs % 16 == 0)
            #expect(["sgd", "adam"].contains(opt))
        }
    }

    @Test("ids stay stable when N grows: the first samples are the same configs")
    func randomPrefixStable() throws {
        let small = try GridExpansion.expand(try randomSpec(5))
        let large = try GridExpansion.expand(try randomSpec(12))
        #expect(Array(large.prefix(5)).map(\.id) == small.map(\.id))
        #expect(Set(large.map(\.id)).count == 12)
    }

    @Test("a small space redraws repeats and says when it has fewer configs than N; repeats add seeds")
    func randomSmallSpace() throws {
        let four = try GridExpansion.expand(try parse("command: [t]\nparameters: {a: [1, 2], b: [x, y]}\nsearch: {random: 4}\n"))
        #expect(Set(four.map(\.paramsJSON)).count == 4)
        let e = error("command: [t]\nparameters: {a: [1, 2], b: [x, y]}\nsearch: {random: 5}\n")
        #expect(e?.message.contains("fewer distinct configs") == true)
        let seeded = try GridExpansion.expand(try parse("command: [t, \"{seed}\"]\nparameters: {a: {uniform: [0, 1]}}\nsearch: {random: 3}\nrepeats: 2\n"))
        #expect(seeded.count == 6)
        #expect(seeded.map { $0.params.last!.1 } == [.int(0), .int(1), .int(0), .int(1), .int(0), .int(1)])
    }

    @Test("distributions need random search; zip and exclude need a grid; each error points at its node")
    func searchErrors() {
        let grid = error("command: [t]\nparameters:\n  lr: {loguniform: [0.001, 0.1]}\n")
        #expect(grid?.description.hasPrefix("spec.yaml:3:3: parameter 'lr' is drawn from loguniform(0.001, 0.1), which only 'search: {random: N}' uses") == true)
        let zip = error("command: [t]\nparameters: {a: [1], b: [2]}\nzip: [[a, b]]\nsearch: {random: 1}\n")
        #expect(zip?.location?.line == 3)
        #expect(zip?.message.contains("'zip' works on a grid") == true)
        let logZero = error("command: [t]\nparameters:\n  lr: {loguniform: [0, 0.1]}\nsearch: {random: 2}\n")
        #expect(logZero?.location?.line == 3)
        #expect(logZero?.message.contains("needs low > 0") == true)
        let intFloat = error("command: [t]\nparameters:\n  n: {int: [1, 2.5]}\nsearch: {random: 2}\n")
        #expect(intFloat?.message.contains("'int' takes whole numbers") == true)
        let noCount = error("command: [t]\nparameters: {a: [1]}\nsearch: {seed: 3}\n")
        #expect(noCount?.description.hasPrefix("spec.yaml:3:9: 'search' needs 'random: N'") == true)
    }
}
