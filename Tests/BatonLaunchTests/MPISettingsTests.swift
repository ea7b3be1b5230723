import Foundation
import Testing
@testable import BatonLaunch
@testable import BatonRuns
@testable import BatonProtocol

/// `MPISettings`: the Open MPI settings of each host source, the plans made from them, and
/// docs/launch.md's table.
@Suite struct MPISettingsTests {
    /// A 2-core machine called `box`, with `environment`.
    static func machine(cores: Int = 2, _ environment: [String: String] = [:]) -> MPISettings.Machine {
        MPISettings.Machine(names: ["localhost", "box"], cores: cores, environment: environment)
    }

    static func planner(_ mode: LaunchMode, machine: MPISettings.Machine) -> LaunchPlanner {
        var p = LaunchPlanner(mode: mode, command: ["python3", "t.py"], runDir: "/r", batonPath: "/b/baton")
        p.machine = machine
        return p
    }

    static let local = LaunchMode.local(agentPath: "/r/local/rsh-agent")
    static let twoByTwo = HostList(hosts: [BatonProtocol.Host(name: "local-0", slots: 2), BatonProtocol.Host(name: "local-1", slots: 2)])

    /// The index of `--mca NAME` in `argv`, and its value.
    static func mca(_ name: String, in argv: [String]) -> String? {
        guard let i = argv.firstIndex(of: name), i > 0, argv[i - 1] == "--mca", i + 1 < argv.count else { return nil }
        return argv[i + 1]
    }

    @Test("--local: ranks yield when idle, on any core count, before the wrapper's words")
    func localPlanYields() {
        for cores in [1, 2, 64] {
            let plan = Self.planner(Self.local, machine: Self.machine(cores: cores)).plan(hosts: Self.twoByTwo, attempt: 1, shardDir: nil)
            #expect(Self.mca("mpi_yield_when_idle", in: plan.mpirun) == "1")
            let wrapper = plan.mpirun.firstIndex(of: "/b/baton")!
            #expect(plan.mpirun.firstIndex(of: "mpi_yield_when_idle")! < wrapper)
        }
    }

    @Test("a user's own OMPI_MCA_mpi_yield_when_idle is kept: Baton passes no --mca that would override it")
    func usersOwnSettingIsKept() {
        for value in ["0", "1", "false"] {
            let m = Self.machine(cores: 1, [MPISettings.yieldVariable: value])
            let plan = Self.planner(Self.local, machine: m).plan(hosts: Self.twoByTwo, attempt: 1, shardDir: nil)
            #expect(!plan.mpirun.contains("mpi_yield_when_idle"))
            #expect(plan.mpirunEnvironment[MPISettings.yieldVariable] == nil)
            let here = HostList(hosts: [BatonProtocol.Host(name: "localhost", slots: 4)])
            #expect(!Self.planner(.cluster, machine: m).plan(hosts: here, attempt: 1, shardDir: nil).mpirun.contains("mpi_yield_when_idle"))
        }
    }

    @Test("real hosts: yielding is not forced, whatever this machine's cores")
    func clusterPlanDoesNotYield() {
        let hosts = HostList(hosts: [BatonProtocol.Host(name: "node1", slots: 8), BatonProtocol.Host(name: "node2", slots: 8)])
        let plan = Self.planner(.cluster, machine: Self.machine(cores: 1)).plan(hosts: hosts, attempt: 1, shardDir: nil)
        #expect(!plan.mpirun.contains("mpi_yield_when_idle"))
        #expect(!plan.mpirun.contains("--oversubscribe"))
        #expect(Self.mca("odls_base_sigkill_timeout", in: plan.mpirun) == "32")
        // One real host among them is not "this machine only" either.
        let mixed = HostList(hosts: [BatonProtocol.Host(name: "box", slots: 8), BatonProtocol.Host(name: "node2", slots: 8)])
        #expect(!Self.planner(.cluster, machine: Self.machine(cores: 1)).plan(hosts: mixed, attempt: 1, shardDir: nil).mpirun.contains("mpi_yield_when_idle"))
    }

    @Test("-H localhost:N or a hostfile naming only this machine: yield when its ranks outnumber its cores")
    func thisMachineYieldsOnlyWhenOversubscribed() {
        for (name, slots, cores, yields) in [("localhost", 4, 2, true), ("box", 4, 2, true), ("localhost", 2, 2, false), ("127.0.0.1", 3, 2, true)] {
            let hosts = HostList(hosts: [BatonProtocol.Host(name: name, slots: slots)])
            let m = Self.machine(cores: cores)
            #expect(MPISettings.source(local: false, hosts: hosts, machine: m) == .thisMachine)
            let argv = Self.planner(.cluster, machine: m).plan(hosts: hosts, attempt: 1, shardDir: nil).mpirun
            #expect((Self.mca("mpi_yield_when_idle", in: argv) == "1") == yields, "\(name):\(slots) on \(cores) cores")
        }
        // Two host lines, both this machine, count together.
        let two = HostList(hosts: [BatonProtocol.Host(name: "localhost", slots: 2), BatonProtocol.Host(name: "box", slots: 1)])
        #expect(Self.mca("mpi_yield_when_idle", in: Self.planner(.cluster, machine: Self.machine()).plan(hosts: two, attempt: 1, shardDir: nil).mpirun) == "1")
    }

    @Test("--local's mpirun line is the table's, in its order (the words before the yield setting are those Baton always passed)")
    func localWordsInOrder() {
        var m = Self.machine()
        let argv = Self.planner(Self.local, machine: m).plan(hosts: Self.twoByTwo, attempt: 1, shardDir: nil).mpirun
        let wrapper = argv.firstIndex(of: "/b/baton")!
        var expected = ["mpirun", "--host", "local-0:2,local-1:2", "-np", "4", "--map-by", "slot", "--bind-to", "none", "--stdin", "all",
                        "--mca", "odls_base_sigkill_timeout", "32",
                        "--mca", "plm_rsh_agent", "/r/local/rsh-agent", "--mca", "if_base_do_not_resolve", "1",
                        "--mca", "oob_tcp_if_include", "lo", "--mca", "btl_tcp_if_include", "lo", "--mca", "btl", "self,tcp",
                        "--oversubscribe"]
        if getuid() == 0 { expected.append("--allow-run-as-root") }
        expected += ["--mca", "mpi_yield_when_idle", "1"]
        #expect(Array(argv[..<wrapper]) == expected)
        // The grid's health check on a node: the host source's part alone.
        m.environment = [:]
        #expect(LocalNodes.mpirunArguments(agent: "/r/local/rsh-agent", machine: m) == Array(expected[14...]))
    }

    @Test("every row says on which sources it applies, and gives no words or variables on the others")
    func rowsApplyOnlyWhereTheySay() {
        let slurm = SlurmAllocation(jobID: "1", nodes: ["a", "b"])
        for source in MPISettings.Source.allCases {
            for root in [false, true] {
                let c = MPISettings.Context(source: source, agent: "/r/local/rsh-agent", ranksHere: 64, machine: Self.machine(cores: 1),
                                            slurm: slurm, hostNames: ["a"], root: root)
                for row in MPISettings.table where row.applies[source] == nil {
                    #expect(row.arguments(c).isEmpty, "\(row.name) on \(source)")
                    #expect(row.environment(c).isEmpty, "\(row.name) on \(source)")
                }
            }
        }
        #expect(Set(MPISettings.table.map(\.name)).count == MPISettings.table.count)
        #expect(MPISettings.table.allSatisfy { !$0.why.isEmpty && !$0.applies.isEmpty })
    }

    /// The package root: this file is `Tests/BatonLaunchTests/MPISettingsTests.swift`.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("above 64 nodes (Open MPI's tree-spawn radix) the radix is the node count, so every agent is mpirun's child")
    func radixCoversEveryNode() {
        func words(_ n: Int) -> [String] {
            MPISettings.arguments(MPISettings.Context(source: .cluster, machine: Self.machine(cores: 2),
                                                      hostNames: (1...n).map { "h\($0)" }), part: .job)
        }
        #expect(!words(64).contains("routed_radix"))
        let w = words(256)
        let i = try? #require(w.firstIndex(of: "routed_radix"))
        #expect(i.map { w[$0 + 1] } == "256")
    }

    @Test("docs/launch.md's settings table is MPISettings.markdown(), between its markers")
    func pageHasTheTable() throws {
        let page = try String(contentsOf: Self.root.appendingPathComponent("docs/launch.md"), encoding: .utf8)
        let begin = "<!-- mpi-settings:begin (generated from MPISettings.table; MPISettingsTests checks it) -->\n"
        let end = "<!-- mpi-settings:end -->"
        let b = try #require(page.range(of: begin), "no begin marker")
        let e = try #require(page.range(of: end, range: b.upperBound..<page.endIndex), "no end marker")
        let onPage = String(page[b.upperBound..<e.lowerBound])
        let expected = MPISettings.markdown()
        if onPage != expected {
            try? expected.write(toFile: NSTemporaryDirectory() + "/mpi-settings.md", atomically: true, encoding: .utf8)
        }
        #expect(onPage == expected, "docs/launch.md's table differs from MPISettings.markdown() (written to $TMPDIR/mpi-settings.md)")
    }
}
