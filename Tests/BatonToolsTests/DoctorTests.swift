import Foundation
import Testing
@testable import BatonSupport
@testable import BatonTools

@Suite("Doctor")
struct DoctorTests {
    func doctor(_ fixture: String, mpi: String = "openmpi-4.1.4", environment: [String: String] = [:]) -> DoctorReport {
        Doctor(context: ProbeFixtures.doctorContext(fixture, mpi: mpi, environment: environment))
            .run(report: ProbeFixtures.report(fixture))
    }

    func check(_ report: DoctorReport, _ id: String) -> DoctorCheck? { report.checks.first { $0.id == id } }

    @Test("doctor output of every fixture matches its golden file", arguments: ProbeFixtures.names)
    func goldenOutput(fixture: String) {
        let report = doctor(fixture)
        ProbeFixtures.expectGolden(report.text, "doctor/\(fixture).txt")
    }

    @Test("doctor JSON carries host, rank, verdict, counts and every check")
    func goldenJSON() {
        ProbeFixtures.expectGolden(doctor("roce-v2-nic").json(rank: 0).rendered() + "\n", "doctor/roce-v2-nic.json")
    }

    @Test("a machine without RDMA fails rdma-devices with a fix and exits 1")
    func noRDMAFails() throws {
        let report = doctor("none")
        let c = try #require(check(report, "rdma-devices"))
        #expect(c.verdict == .fail)
        #expect(c.seen.hasPrefix("no RDMA devices"))
        #expect(c.fix?.contains("modprobe") == true)
        #expect(report.exitCode == ExitCodes.checkFailed)
    }

    @Test("warnings alone do not fail: the eight-GPU server warns about nvidia_peermem and NCCL_IB_HCA, exits 0")
    func warningsDoNotFail() throws {
        let report = doctor("eight-gpu-server")
        #expect(report.verdict == .warn)
        #expect(report.exitCode == ExitCodes.success)
        #expect(check(report, "gpudirect")?.verdict == .warn)
        let nccl = try #require(check(report, "nccl-config"))
        #expect(nccl.verdict == .warn)
        #expect(nccl.seen.contains("mlx5_1 also selects mlx5_10, mlx5_11"))
        #expect(nccl.fix?.contains("NCCL_IB_HCA==mlx5_0:1,mlx5_1:1") == true)
    }

    @Test("docker's default limits fail memlock (64 KiB) and shm (64 MiB)")
    func dockerDefaults() {
        let report = doctor("roce-v2-nic")
        #expect(check(report, "memlock")?.verdict == .fail)
        #expect(check(report, "shm")?.verdict == .fail)
    }

    @Test("a missing uverbs node fails device-nodes naming the node")
    func missingNode() throws {
        let c = try #require(check(doctor("malformed"), "device-nodes"))
        #expect(c.verdict == .fail)
        #expect(c.seen.contains("/dev/infiniband/uverbs1 (mlx5_1) missing"))
    }

    @Test("mpirun of another Open MPI version fails; MPICH's fails; none on PATH fails; the same version passes")
    func mpirunVersions() {
        #expect(check(doctor("none", mpi: "openmpi-4.1.4"), "mpirun")?.verdict == .pass)
        let old = check(doctor("none", mpi: "openmpi-4.0.3"), "mpirun")
        #expect(old?.verdict == .fail)
        #expect(old?.seen.contains("Open MPI 4.0.3 but baton is linked against Open MPI 4.1.4") == true)
        let mpich = check(doctor("none", mpi: "mpich"), "mpirun")
        #expect(mpich?.verdict == .fail)
        #expect(mpich?.seen.contains("not Open MPI's mpirun") == true)
        #expect(check(doctor("none", environment: ["PATH": "/nonexistent"]), "mpirun")?.verdict == .fail)
    }

    @Test("the real mpirun on PATH is compared with the real linked libmpi")
    func realMPIRun() throws {
        let context = DoctorContext(roots: ProbeFixtures.roots("none"))
        let c = Doctor(context: context).mpirun()
        // On this machine both are Debian's Open MPI; elsewhere the check must at least run.
        if ProcessRunner.which("mpirun", environment: ProcessInfo.processInfo.environment) == "/usr/bin/mpirun" {
            #expect(c.verdict == .pass, "\(c.seen)")
        } else {
            #expect(!c.seen.isEmpty)
        }
    }

    @Test("memlock: unlimited passes, 2 GiB warns, CAP_IPC_LOCK makes a low limit pass, unknown warns")
    func memlockLevels() {
        let d = Doctor(context: ProbeFixtures.doctorContext("none"))
        #expect(d.memlock(ResourceLimits(memlockBytes: nil, shmBytes: nil)).verdict == .pass)
        #expect(d.memlock(ResourceLimits(memlockBytes: 2 << 30, shmBytes: nil)).verdict == .warn)
        #expect(d.memlock(ResourceLimits(memlockBytes: 64 << 10, shmBytes: nil, hasIPCLock: true)).verdict == .pass)
        #expect(d.memlock(ResourceLimits(memlockBytes: nil, memlockUnknown: true, shmBytes: nil)).verdict == .warn)
        #expect(d.shm(ResourceLimits(memlockBytes: nil, shmBytes: 512 << 20)).verdict == .warn)
    }

    @Test("NCCL_IB_DISABLE=1 in the environment warns")
    func ibDisabled() {
        let c = check(doctor("ib-hdr-two-port", environment: ["NCCL_IB_DISABLE": "1"]), "nccl-config")
        #expect(c?.verdict == .warn)
        #expect(c?.seen.contains("NCCL_IB_DISABLE=1 (environment)") == true)
    }

    @Test("--hosts rows are matched to hosts by rank; a host that did not answer is a failed row")
    func hostRows() {
        let line0 = #"{"host":"gpu-a1","rank":0,"verdict":"warn","passed":7,"warnings":1,"failed":0,"checks":[{"id":"gpudirect","verdict":"warn","seen":"x","fix":"y"}]}"#
        let rows = DoctorHosts.parse("noise\n" + line0 + "\n", hosts: ["a1", "a2"])
        #expect(rows[0].reportedName == "gpu-a1" && rows[0].verdict == "warn" && rows[0].problems == ["gpudirect (warn)"])
        #expect(rows[1].reportedName == nil && rows[1].verdict == "fail")
        ProbeFixtures.expectGolden(DoctorHosts.table(rows), "doctor/hosts-table.txt")
    }

    @Test("--hosts starts one doctor per node through mpirun with an argv array")
    func hostsArgv() {
        let plan = DoctorHosts(hosts: ["n1", "n2"], mpirun: "/usr/bin/mpirun", baton: "/opt/baton", forwarded: ["--root", "/x"])
        let argv = plan.argv
        #expect(argv.first == "/usr/bin/mpirun")
        #expect(argv.contains("n1,n2"))
        #expect(argv.suffix(6) == ["/opt/baton", "doctor", "--json", "--compact", "--root", "/x"])
        let mapBy = argv.firstIndex(of: "--map-by").map { argv[$0 + 1] }
        #expect(mapBy == "ppr:1:node")
    }

    /// Answers as one node's doctor would, except on `silent`, whose mpirun fails.
    struct PerHostRunner: CommandRunner {
        var silent: String
        func run(_ argv: [String], timeout: Double) throws -> CommandResult {
            guard let i = argv.firstIndex(of: "--host") else { return CommandResult(status: 2, stdout: "") }
            let host = argv[i + 1]
            if host == silent { return CommandResult(status: 1, stdout: "", stderr: "ORTE was unable to reach \(host)") }
            // The per-host extra arguments come before the doctor's own.
            #expect(argv.contains("--exclude-others-of-\(host)"))
            return CommandResult(status: 0, stdout: #"{"host":"\#(host)","rank":0,"verdict":"pass","passed":8,"warnings":0,"failed":0,"checks":[]}"# + "\n")
        }
    }

    @Test("--hosts in an allocation: one mpirun per node, so a lost node is only its own NO ANSWER row")
    func hostsEach() {
        let plan = DoctorHosts(hosts: ["n1", "n2", "n3"], mpirun: "/usr/bin/mpirun", baton: "/opt/baton",
                               runner: PerHostRunner(silent: "n2"))
        let (rows, failures) = plan.runEach(width: 2) { ["--exclude-others-of-\($0)"] }
        #expect(rows.map(\.host) == ["n1", "n2", "n3"])
        #expect(rows.map(\.reportedName) == ["n1", nil, "n3"])
        #expect(rows[1].problems == ["no answer"] && rows[0].verdict == "pass" && rows[2].verdict == "pass")
        #expect(failures.count == 1 && failures[0].hasPrefix("n2: mpirun exited 1"))
    }
}

@Suite("DoctorWithVerbs")
struct DoctorWithVerbsTests {
    struct NoDevicesVerbs: VerbsSource {
        func listDevices() -> VerbsListing { .noDevices("ibv_get_device_list returned an empty list") }
    }

    @Test("devices in sysfs that libibverbs does not list fail device-nodes with the provider fix")
    func providerMissing() throws {
        let roots = ProbeFixtures.roots("ib-hdr-two-port")
        let report = Prober(roots: roots, verbs: NoDevicesVerbs(), useVerbs: true).run()
        #expect(report.devices.first?.seenByVerbs == false)
        let doctor = Doctor(context: ProbeFixtures.doctorContext("ib-hdr-two-port")).run(report: report)
        let c = try #require(doctor.checks.first { $0.id == "device-nodes" })
        #expect(c.verdict == .fail)
        #expect(c.seen == "libibverbs does not list mlx5_0")
        #expect(c.fix?.contains("ibverbs-providers") == true)
    }
}
