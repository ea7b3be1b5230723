import Foundation
import Testing
import Yams
@testable import BatonTools

@Suite("ContainerFlags")
struct ContainerFlagsTests {
    func flags(_ fixture: String, _ runtime: ContainerRuntime, _ options: ContainerFlagsOptions = .init()) -> ContainerFlags {
        ContainerFlags(report: ProbeFixtures.report(fixture), runtime: runtime, options: options,
                       etcFiles: NCCLConfigFiles(roots: ProbeFixtures.roots(fixture)))
    }

    static let cases: [(String, ContainerRuntime)] = ProbeFixtures.names.flatMap { f in ContainerRuntime.allCases.map { (f, $0) } }

    @Test("flags of every runtime on every fixture match their golden files", arguments: cases)
    func goldenOutput(fixture: String, runtime: ContainerRuntime) {
        let f = flags(fixture, runtime)
        let notes = f.notes.map { "# note: \($0)\n" }.joined()
        ProbeFixtures.expectGolden(f.text + notes, "container/\(fixture).\(runtime.rawValue)\(runtime == .k8s ? ".yaml" : ".txt")")
    }

    @Test("--nccl-env lines of every fixture match their golden files", arguments: ProbeFixtures.names)
    func goldenNCCLEnv(fixture: String) {
        ProbeFixtures.expectGolden(flags(fixture, .docker).nccl.lines, "nccl-env/\(fixture).txt")
    }

    @Test("container-flags JSON matches its golden file")
    func goldenJSON() {
        ProbeFixtures.expectGolden(flags("roce-v2-nic", .docker).json.rendered() + "\n", "container/roce-v2-nic.docker.json")
    }

    @Test("NCCL_IB_HCA lists only ACTIVE InfiniBand ports, exact-match, so mlx5_1 never selects mlx5_10 or mlx5_11")
    func exactMatchHCA() throws {
        let env = flags("eight-gpu-server", .docker).nccl
        let hca = try #require(env["NCCL_IB_HCA"])
        #expect(hca == "=mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_5:1,mlx5_6:1,mlx5_7:1,mlx5_10:1")
        #expect(NCCLEnvironment.hcaListSelects(hca, device: "mlx5_1", port: 1))
        #expect(NCCLEnvironment.hcaListSelects(hca, device: "mlx5_10", port: 1))
        #expect(!NCCLEnvironment.hcaListSelects(hca, device: "mlx5_11", port: 1))
        #expect(!NCCLEnvironment.hcaListSelects(hca, device: "mlx5_4", port: 1))
        #expect(!NCCLEnvironment.hcaListSelects(hca, device: "mlx5_8", port: 1))
        // What the exact-match prefix prevents: NCCL's default prefix rule.
        #expect(NCCLEnvironment.hcaListSelects("mlx5_1:1", device: "mlx5_11", port: 1))
        #expect(env["NCCL_IB_GID_INDEX"] == nil)
    }

    @Test("RoCE: NCCL_IB_GID_INDEX is the IPv4 RoCE v2 entry and the socket interface is its netdev")
    func roceGIDIndex() {
        let env = flags("roce-v2-nic", .docker).nccl
        #expect(env["NCCL_IB_HCA"] == "=mlx5_0:1")
        #expect(env["NCCL_IB_GID_INDEX"] == "3")
        #expect(env["NCCL_SOCKET_IFNAME"] == "=ens1f0np0")
    }

    @Test("RoCE ports with the IPv4 v2 GID at different indices let NCCL choose by version and family")
    func roceDifferentIndices() {
        var report = ProbeFixtures.report("roce-v2-nic")
        var second = report.devices[0]
        second.name = "mlx5_1"
        second.ports[0].gids = second.ports[0].gids.map { var g = $0; g.index += 2; return g }
        report.devices.append(second)
        let env = NCCLEnvironment(report: report)
        #expect(env["NCCL_IB_GID_INDEX"] == nil)
        #expect(env["NCCL_IB_ROCE_VERSION_NUM"] == "2")
        #expect(env["NCCL_IB_ADDR_FAMILY"] == "AF_INET")
    }

    @Test("never --privileged; one --device per uverbs node plus rdma_cm")
    func devices() {
        for fixture in ProbeFixtures.names {
            for runtime in ContainerRuntime.allCases { #expect(!flags(fixture, runtime).text.contains("privileged")) }
        }
        let docker = flags("eight-gpu-server", .docker).flags.filter { $0.hasPrefix("--device=") }
        #expect(docker.count == 13)
        #expect(docker.last == "--device=/dev/infiniband/rdma_cm")
    }

    @Test("podman never gets --shm-size with --ipc=host; a private IPC namespace gets --shm-size")
    func podmanShm() {
        let shared = flags("ib-hdr-two-port", .podman).flags
        #expect(shared.contains("--ipc=host") && !shared.contains { $0.hasPrefix("--shm-size") })
        let privateIPC = flags("ib-hdr-two-port", .podman, ContainerFlagsOptions(hostIPC: false, shmSize: "8g")).flags
        #expect(privateIPC.contains("--shm-size=8g") && !privateIPC.contains("--ipc=host"))
    }

    @Test("NCCL config mounts appear only where the files exist")
    func configMounts() {
        #expect(flags("eight-gpu-server", .docker).mounts == ["/sys/class/infiniband", "/etc/nccl.conf", "/etc/nccl"])
        #expect(flags("roce-v2-nic", .docker).mounts == ["/sys/class/infiniband"])
        #expect(flags("none", .docker).mounts == [])
    }

    @Test("the Kubernetes fragment is valid YAML with IPC_LOCK, the RDMA resource, hostNetwork and quoted NCCL values")
    func kubernetesYAML() throws {
        let yaml = try #require(flags("eight-gpu-server", .k8s).yaml)
        let object = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(object["hostNetwork"] as? Bool == true)
        let container = try #require((object["containers"] as? [[String: Any]])?.first)
        let caps = (container["securityContext"] as? [String: Any])?["capabilities"] as? [String: Any]
        #expect(caps?["add"] as? [String] == ["IPC_LOCK"])
        let limits = (container["resources"] as? [String: Any])?["limits"] as? [String: Any]
        #expect(limits?["rdma/hca_shared_devices_a"] as? Int == 1)
        let env = container["env"] as? [[String: Any]]
        #expect(env?.first?["value"] as? String == "=mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_5:1,mlx5_6:1,mlx5_7:1,mlx5_10:1")
    }
}
