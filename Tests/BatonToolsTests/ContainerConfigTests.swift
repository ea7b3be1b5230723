import Foundation
import Testing
import Yams
@testable import BatonTools

@Suite("ContainerConfig")
struct ContainerConfigTests {
    func config(_ fixture: String, _ runtime: ContainerConfigRuntime, directory: String? = nil) -> ContainerConfig {
        ContainerConfig(report: ProbeFixtures.report(fixture), runtime: runtime,
                        etcFiles: NCCLConfigFiles(roots: ProbeFixtures.roots(fixture)), directory: directory)
    }

    static let cases: [(String, ContainerConfigRuntime)] = ProbeFixtures.names.flatMap { f in ContainerConfigRuntime.allCases.map { (f, $0) } }

    @Test("the files and flags of every runtime on every fixture match their golden files", arguments: cases)
    func goldenOutput(fixture: String, runtime: ContainerConfigRuntime) {
        let c = config(fixture, runtime)
        let notes = c.notes.map { "# note: \($0)\n" }.joined()
        ProbeFixtures.expectGolden(c.text + notes, "container-config/\(fixture).\(runtime.rawValue).txt")
    }

    @Test("container-config JSON matches its golden file")
    func goldenJSON() {
        ProbeFixtures.expectGolden(config("roce-v2-nic", .podman).json().rendered() + "\n", "container-config/roce-v2-nic.podman.json")
    }

    @Test("the CDI spec parses as YAML: version, kind, a device `all` and one per HCA, rdma_cm and read-only mounts for all")
    func cdiSpec() throws {
        let file = try #require(config("eight-gpu-server", .cdi).files.first)
        #expect(file.name == "baton-rdma.yaml" && ConfigFile.isBatons(file.contents))
        let spec = try #require(try Yams.load(yaml: file.contents) as? [String: Any])
        #expect(spec["cdiVersion"] as? String == "0.5.0")
        #expect(spec["kind"] as? String == "baton.dev/rdma")
        let devices = try #require(spec["devices"] as? [[String: Any]])
        #expect(devices.map { $0["name"] as? String } == ["all"] + (0...11).map { "mlx5_\($0)" })
        let all = try #require(devices[0]["containerEdits"] as? [String: Any])
        #expect((all["deviceNodes"] as? [[String: Any]])?.count == 12)
        #expect((all["env"] as? [String])?.first == "NCCL_IB_HCA==mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_5:1,mlx5_6:1,mlx5_7:1,mlx5_10:1")
        let one = try #require(devices[11]["containerEdits"] as? [String: Any])
        #expect((one["deviceNodes"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == ["/dev/infiniband/uverbs10"])
        #expect(one["env"] == nil)
        let common = try #require(spec["containerEdits"] as? [String: Any])
        #expect((common["deviceNodes"] as? [[String: Any]])?.compactMap { $0["path"] as? String } == ["/dev/infiniband/rdma_cm"])
        let mounts = try #require(common["mounts"] as? [[String: Any]])
        #expect(mounts.compactMap { $0["containerPath"] as? String } == ["/sys/class/infiniband", "/etc/nccl.conf", "/etc/nccl"])
        #expect(mounts.allSatisfy { ($0["options"] as? [String])?.contains("ro") == true && $0["hostPath"] as? String == $0["containerPath"] as? String })
    }

    @Test("no RDMA device: no CDI spec, and a note says why")
    func cdiWithoutDevices() {
        let c = config("none", .cdi)
        #expect(c.files.isEmpty && c.flags.isEmpty)
        #expect(c.notes.contains { $0.contains("no CDI spec") })
    }

    @Test("the podman drop-in is one [containers] table whose env keeps podman's default PATH and TERM first")
    func podmanDropIn() throws {
        let file = try #require(config("roce-v2-nic", .podman).files.first)
        #expect(file.name == "50-baton-rdma.conf")
        let lines = file.contents.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("[") } == ["[containers]"])
        let env = try #require(lines.firstIndex(of: "env = ["))
        #expect(lines[env + 1].hasPrefix("  \"PATH=") && lines[env + 2] == "  \"TERM=xterm\",")
        #expect(lines.contains("  \"NCCL_IB_GID_INDEX=3\","))
        #expect(lines.contains("  \"memlock=-1:-1\","))
    }

    @Test("docker's daemon.json is plain JSON (no mark: dockerd refuses unknown keys) and the rest stays flags")
    func dockerDaemonJSON() throws {
        let c = config("ib-hdr-two-port", .docker)
        let file = try #require(c.files.first)
        #expect(!file.isMarked && !file.contents.hasPrefix("#"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(file.contents.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["default-ulimits", "features"])
        #expect(c.flags == ["--device=baton.dev/rdma=all", "--cap-add=IPC_LOCK", "--network=host", "--ipc=host"])
    }

    @Test("enroot gets fstab lines of four fields for the NCCL files and KEY=VALUE lines, each file marked")
    func enrootFiles() {
        let c = config("eight-gpu-server", .enroot)
        #expect(c.files.map(\.name) == ["mounts.d/50-baton-rdma.fstab", "environ.d/50-baton-nccl.env"])
        for file in c.files {
            #expect(ConfigFile.isBatons(file.contents))
            for line in file.contents.split(separator: "\n") where !line.hasPrefix("#") {
                if file.name.hasSuffix(".fstab") {
                    #expect(line.split(separator: " ").count == 4)
                } else {
                    #expect(line.firstIndex(of: "=") != nil && !line.hasPrefix("="))
                }
            }
        }
        #expect(c.files[0].contents.contains("/etc/nccl /etc/nccl none x-create=dir,"))
        #expect(c.files[0].contents.contains("/etc/nccl.conf /etc/nccl.conf none x-create=file,"))
    }

    @Test("apptainer's env file quotes values for its shell interpreter; --write DIR moves the --env-file flag along")
    func apptainerEnvFile() throws {
        let c = config("roce-v2-nic", .apptainer, directory: "/tmp/x")
        let env = try #require(c.files.first { $0.name == "baton-nccl.env" })
        #expect(env.contents.contains("NCCL_IB_HCA='=mlx5_0:1'\n"))
        #expect(c.flags == ["--env-file=/tmp/x/baton-nccl.env"])
        #expect(ContainerConfig.shellQuoted("a'b") == "'a'\\''b'")
    }
}
