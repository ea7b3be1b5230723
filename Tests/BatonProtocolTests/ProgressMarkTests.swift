@testable import BatonProtocol
import Testing

@Suite struct ProgressMarkTests {
    @Test("every mark reads back from its payload; anything else is ignored")
    func roundTrip() {
        for m: ProgressMark in [.armed(pid: 42), .step(7), .phase("eval"), .phase(nil), .stacks(path: "/r/a b/rank-0.txt")] {
            #expect(ProgressMark.parse(m.payload) == m)
        }
        #expect(ProgressMark.parse("step 3\r") == .step(3))
        for junk in ["", "step", "step x", "phase a b", "armed", "hello 1"] { #expect(ProgressMark.parse(junk) == nil) }
    }

    @Test("the head's stacks request reads back; the exec arguments encode to what parse reads")
    func messagesAndArguments() {
        #expect(HeadMessage.decode(HeadMessage.stacks(attempt: 3).encoded) == .stacks(attempt: 3))
        var a = ExecArguments()
        a.runDir = "/r"
        a.nodes = "a:2,b:2"
        a.attempt = 2
        a.lease = "10s"
        a.masterAddr = "a"
        a.config = #"{"lr":0.1}"#
        a.resume = true
        a.progressPattern = #"step (\d+)"#
        a.progressKey = "step"
        a.env = ["K=V"]
        a.container = "/:O"
        a.containerRuntime = "/opt/podman-wrapper"
        a.containerOptions = ["--rootfs", "--ulimit=nofile=1024:1024"]
        a.command = ["python3", "train.py", "--", "x"]
        #expect(ExecArguments.parse(a.encode()) == a)
    }

    @Test("a rank's container: host network, IPC and pids, the caller's uid, the contract, the directories at their paths, options before the image")
    func containerArguments() {
        let c = ContainerRun(image: "img:1", runtime: "podman", options: ["--device", "baton.dev/rdma=all"])
        let contract = JobContract(runDir: "/runs/r", attempt: 2, shardDir: "/runs/r/shards/attempt-2")
        let p = RankPlacement(rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, nodeRank: 0, nodeCount: 1, node: "n0")
        let argv = c.rankArguments(contract: contract, placement: p, firstNode: "n0", extra: ["X": "1"],
                                   marks: ["BATON_HEAD": "7:9"], workdir: "/work", user: (1000, 100), command: ["python3", "t.py"])
        let name = ContainerRun.name(runDir: "/runs/r", attempt: 2, rank: 1)
        #expect(Array(argv.prefix(5)) == ["podman", "run", "--rm", "--name", name])
        for flag in ["--network=host", "--ipc=host", "--pid=host", "--preserve-fds"] { #expect(argv.contains(flag)) }
        #expect(argv.contains("1000:100"))
        for v in ["/runs/r:/runs/r", "/runs/r/checkpoints:/runs/r/checkpoints", "/runs/r/shards/attempt-2:/runs/r/shards/attempt-2", "/work:/work"] {
            #expect(argv.contains(v))
        }
        for e in ["RANK=1", "WORLD_SIZE=2", "X=1", "BATON_HEAD=7:9", "BATON_PROGRESS_FD=3"] { #expect(argv.contains(e)) }
        #expect(Array(argv.suffix(5)) == ["--device", "baton.dev/rdma=all", "img:1", "python3", "t.py"])
        #expect(name != ContainerRun.name(runDir: "/runs/r", attempt: 3, rank: 1) && name != ContainerRun.name(runDir: "/runs/s", attempt: 2, rank: 1))
        #expect(!ContainerRun(image: "i", runtime: "/usr/bin/docker").runArguments(name: "n", environment: [:], volumes: [], workdir: "/",
                                                                                 user: (0, 0), command: []).contains("--preserve-fds"))
        #expect(c.removeArguments(name: name) == ["podman", "rm", "--force", "--time", "0", name])
    }

    @Test("a directory the caller's own options mount is not mounted again (the runtime would refuse two mounts there)")
    func userMountsWin() {
        let contract = JobContract(runDir: "/runs/r", configID: "c", configJSON: "{}", attempt: 1)
        let p = RankPlacement(rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, nodeRank: 0, nodeCount: 1, node: "n0")
        func volumes(_ runtime: String, _ options: [String]) -> [String] {
            let a = ContainerRun(image: "img", runtime: runtime, options: options).rankArguments(
                contract: contract, placement: p, firstNode: "n0", extra: [:], marks: [:], workdir: "/work",
                user: (0, 0), command: ["true"])
            let image = a.lastIndex(of: "img")!
            let flag = runtime == "apptainer" ? "--bind" : runtime == "enroot" ? "--mount" : "--volume"
            return a[..<image].indices.filter { a[$0] == flag }.map { a[$0 + 1] }
        }
        let own = volumes("podman", [])
        #expect(own.contains("/work:/work") && own.contains("/runs/r:/runs/r"))
        #expect(volumes("podman", ["--volume", "/data/w:/work:ro"]) == own.filter { $0 != "/work:/work" } + ["/data/w:/work:ro"])
        #expect(!volumes("podman", ["-v", "/x:/runs/r"]).contains("/runs/r:/runs/r"))
        #expect(!volumes("docker", ["--volume=/x:/work"]).contains("/work:/work"))
        #expect(!volumes("podman", ["--mount", "type=bind,source=/x,destination=/work"]).contains("/work:/work"))
        #expect(!volumes("apptainer", ["--bind", "/x:/work"]).contains("/work:/work"))
        #expect(!volumes("enroot", ["--mount", "/x:/work:none:rbind"]).contains("/work:/work:none:x-create=dir,rbind"))
        // Another destination leaves Baton's own mounts alone.
        #expect(volumes("podman", ["--volume", "/x:/elsewhere"]).count == own.count + 1)
    }

    @Test("the runtime's dialect by the end of its name; apptainer and enroot as their documentation spells them")
    func containerDialects() {
        let d = { (r: String) in ContainerRun.Dialect(runtime: r) }
        #expect([d("podman"), d("/tmp/x/podman"), d("/usr/bin/docker"), d("apptainer"), d("/opt/bin/singularity"),
                 d("/usr/bin/enroot"), d("runc")] == [.podman, .podman, .docker, .apptainer, .apptainer, .enroot, .podman])
        let contract = JobContract(runDir: "/runs/r", configID: "c", configJSON: #"{"lr":0.1,"bs":32}"#, attempt: 2)
        let p = RankPlacement(rank: 1, worldSize: 2, localRank: 1, localWorldSize: 2, nodeRank: 0, nodeCount: 1, node: "n0")
        func argv(_ runtime: String) -> [String] {
            ContainerRun(image: "img", runtime: runtime, options: ["--opt"]).rankArguments(
                contract: contract, placement: p, firstNode: "n0", extra: [:], marks: ["BATON_HEAD": "7:9"], workdir: "/work",
                user: (1000, 100), command: ["python3", "t.py"])
        }
        // apptainer: the contract through env(1) as APPTAINERENV_K=V (its --env splits at
        // commas), --cleanenv, the directories bound, the working directory, no name.
        let a = argv("/usr/bin/apptainer")
        let exec = a.firstIndex(of: "/usr/bin/apptainer")!
        #expect(a[0] == "env" && a[exec + 1] == "exec" && a[exec + 2] == "--cleanenv")
        #expect(a[1..<exec].allSatisfy { $0.hasPrefix("APPTAINERENV_") })
        #expect(a.contains(#"APPTAINERENV_BATON_CONFIG={"lr":0.1,"bs":32}"#) && a.contains("APPTAINERENV_RANK=1")
                && a.contains("APPTAINERENV_BATON_HEAD=7:9"))
        #expect(a[a.firstIndex(of: "--pwd")! + 1] == "/work")
        for v in ["/runs/r", "/runs/r/checkpoints", "/work"] { #expect(a[a.firstIndex(of: "\(v):\(v)")! - 1] == "--bind") }
        #expect(Array(a.suffix(4)) == ["--opt", "img", "python3", "t.py"])
        #expect(!a.contains("--name") && !a.contains("--env"))
        #expect(argv("singularity")[1].hasPrefix("SINGULARITYENV_"))
        // enroot: start, --env K=V, --mount as an fstab line with colons, options, image, command.
        let e = argv("enroot")
        #expect(Array(e.prefix(2)) == ["enroot", "start"])
        #expect(e[e.firstIndex(of: #"BATON_CONFIG={"lr":0.1,"bs":32}"#)! - 1] == "--env")
        #expect(e[e.firstIndex(of: "/runs/r:/runs/r:none:x-create=dir,rbind")! - 1] == "--mount")
        #expect(Array(e.suffix(4)) == ["--opt", "img", "python3", "t.py"])
        // Neither keeps a container apart from its processes: nothing to remove.
        for r in ["apptainer", "enroot"] { #expect(ContainerRun(image: "i", runtime: r).removeArguments(name: "n") == nil) }
        #expect(ContainerRun(image: "i", runtime: "docker").removeArguments(name: "n") == ["docker", "rm", "--force", "--time", "0", "n"])
    }
}
