import Foundation
import Testing
@testable import BatonTools

@Suite("Probe")
struct ProbeTests {
    @Test("probe table and JSON of every fixture match their golden files", arguments: ProbeFixtures.names)
    func goldenOutput(fixture: String) {
        let report = ProbeFixtures.report(fixture)
        ProbeFixtures.expectGolden(report.table, "probe/\(fixture).txt")
        ProbeFixtures.expectGolden(report.json.rendered() + "\n", "probe/\(fixture).json")
    }

    @Test("a machine with no RDMA is a normal answer: no devices, no problems")
    func noneFixture() {
        let report = ProbeFixtures.report("none")
        #expect(report.devices.isEmpty)
        #expect(report.problems.isEmpty)
        #expect(report.deviceNodes.isEmpty)
        #expect(report.table.hasPrefix("no RDMA devices"))
    }

    @Test("on this machine the real libibverbs is asked and its no-devices answer is reported")
    func realVerbsCall() {
        let report = Prober(roots: .system).run()
        if !FileManager.default.fileExists(atPath: "/sys/class/infiniband_verbs") {
            // rdma-core's ibv_get_device_list fails with ENOSYS when the kernel has no verbs.
            guard case .noDevices(let what) = report.verbs else {
                Issue.record("expected libibverbs to answer 'no devices', got \(report.verbs)")
                return
            }
            #expect(what.contains("ibv_get_device_list"))
            #expect(what.contains("ENOSYS"))
            #expect(report.devices.isEmpty)
            #expect(report.table.hasPrefix("no RDMA devices"))
        } else {
            // A machine with RDMA: verbs must have been used, not skipped.
            if case .skipped = report.verbs { Issue.record("verbs were skipped on the real /sys") }
        }
    }

    @Test("a fixture root never asks libibverbs, and says so")
    func fixtureSkipsVerbs() {
        let report = ProbeFixtures.report("ib-hdr-two-port")
        guard case .skipped = report.verbs else { Issue.record("verbs were used on a fixture"); return }
        #expect(report.source == "sysfs")
    }

    @Test("two-port HDR HCA: port 1 ACTIVE at 200 Gb/s with LID 4, port 2 DOWN")
    func ibHDR() throws {
        let report = ProbeFixtures.report("ib-hdr-two-port")
        let d = try #require(report.devices.first)
        #expect(d.name == "mlx5_0" && d.uverbs == "uverbs0" && d.hcaType == "MT4123" && d.numaNode == 0)
        #expect(d.ports.map(\.state) == ["ACTIVE", "DOWN"])
        #expect(d.ports[0].rateGbps == 200 && d.ports[0].lid == 4 && d.ports[0].linkLayer == "InfiniBand")
        #expect(d.netdevs == [NetDevice(name: "ib0", port: 1), NetDevice(name: "ib1", port: 2)])
        #expect(report.limits.memlockBytes == nil && !report.limits.memlockUnknown)
    }

    @Test("RoCE GID table: zero entries skipped, types and netdevs read, absent attributes are not problems")
    func roceGIDs() throws {
        let report = ProbeFixtures.report("roce-v2-nic")
        let port = try #require(report.devices.first?.ports.first)
        #expect(port.gids.map(\.index) == [0, 1, 2, 3, 4, 5])
        #expect(port.gids.map(\.type) == ["IB/RoCE v1", "RoCE v2", "IB/RoCE v1", "RoCE v2", "IB/RoCE v1", "RoCE v2"])
        #expect(port.gids[3].ipv4 == "10.1.0.5" && port.gids[3].netdev == "ens1f0np0")
        #expect(report.problems.isEmpty)
        #expect(report.limits.memlockBytes == 65536 && report.limits.shmBytes == 64 << 20)
    }

    @Test("malformed trees: each bad file is reported with its path and the intact device is still read")
    func malformed() throws {
        let report = ProbeFixtures.report("malformed")
        let problems = Dictionary(report.problems.map { ($0.path, $0.problem) }, uniquingKeysWith: { a, _ in a })
        let base = "/sys/class/infiniband/mlx5_0"
        #expect(problems["\(base)/ports/1/gids/0"]?.contains("34 characters, expected 39") == true)
        #expect(problems["\(base)/ports/1/state"]?.contains("\"banana\"") == true)
        #expect(problems["\(base)/fw_ver"] == "missing")
        #expect(problems["\(base)/ports/1/lid"] == "missing")
        #expect(problems["\(base)/ports/x"] == "not a port number")
        #expect(problems["\(base)/ports/1/gid_attrs/types/1"]?.contains("RoCE v3") == true)
        #expect(problems["/sys/class/infiniband/mlx5_1/ports"] != nil)
        #expect(problems["/proc/self/limits"] != nil)
        let intact = try #require(report.devices.first { $0.name == "mlx5_2" })
        #expect(intact.ports.first?.isActive == true && intact.ports.first?.rateGbps == 200)
        #expect(report.devices.map(\.name) == ["mlx5_0", "mlx5_1", "mlx5_2"])
    }

    @Test("devices and nodes are listed in natural order: mlx5_2 before mlx5_10")
    func naturalOrder() {
        let report = ProbeFixtures.report("eight-gpu-server")
        #expect(report.devices.map(\.name) == (0...11).map { "mlx5_\($0)" })
        #expect(NaturalOrder.sorted(["uverbs10", "uverbs2", "rdma_cm", "uverbs1"]) == ["rdma_cm", "uverbs1", "uverbs2", "uverbs10"])
    }

    @Test("sysfs parsers accept the kernel formats and refuse near misses")
    func parsers() {
        #expect(SysfsReader.numberedName("4: ACTIVE")! == (4, "ACTIVE"))
        #expect(SysfsReader.numberedName("ACTIVE") == nil)
        #expect(SysfsReader.rateGbps("200 Gb/sec (4X HDR)") == 200)
        #expect(SysfsReader.rateGbps("2.5 Gb/sec (1X SDR)") == 2.5)
        #expect(SysfsReader.rateGbps("56 Gb/sec (4X FDR)") == 56)
        #expect(SysfsReader.rateGbps("fast") == nil)
        #expect(SysfsReader.isGUID("0c42:a103:0065:d6b6"))
        #expect(!SysfsReader.isGUID("0c42:a103:0065"))
        #expect(LimitsReader.parseSize("65536k") == 64 << 20)
        #expect(LimitsReader.parseSize("2g") == 2 << 30)
        #expect(LimitsReader.parseSize("4096") == 4096)
        #expect(LimitsReader.memlock(fromLimits: "Max locked memory         unlimited            unlimited            bytes") == .some(nil))
        #expect(LimitsReader.hasIPCLock(status: "CapEff:\t0000000000004000") == true)
        #expect(LimitsReader.hasIPCLock(status: "CapEff:\t00000000a80425fb") == false)
    }

    @Test("verbs facts merge into sysfs: listed devices are marked, unlisted ones are not")
    func verbsMerge() throws {
        struct FakeVerbs: VerbsSource {
            func listDevices() -> VerbsListing {
                .devices([VerbsDeviceFacts(name: "mlx5_0", uverbs: "uverbs0", firmwareVersion: "20.29.2002",
                                           ports: [VerbsPortFacts(number: 1, stateCode: 4, state: "ACTIVE", linkLayer: "InfiniBand", lid: 4, rateGbps: 200)]),
                          VerbsDeviceFacts(name: "rxe0", uverbs: "uverbs9")])
            }
        }
        let report = Prober(roots: ProbeFixtures.roots("malformed"), verbs: FakeVerbs(), useVerbs: true).run()
        #expect(report.source == "sysfs+verbs")
        let byName = Dictionary(report.devices.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["mlx5_0"]?.seenByVerbs == true)
        // sysfs could not parse mlx5_0's state or fw_ver; verbs fills them in.
        #expect(byName["mlx5_0"]?.ports.first?.state == "ACTIVE")
        #expect(byName["mlx5_0"]?.firmwareVersion == "20.29.2002")
        #expect(byName["mlx5_2"]?.seenByVerbs == false)
        #expect(byName["rxe0"]?.seenByVerbs == true)
    }
}
