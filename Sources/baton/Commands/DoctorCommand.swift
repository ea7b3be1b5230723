import ArgumentParser
import BatonCore
import Foundation

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Pre-flight checks for RDMA training: a verdict, what was seen and the fix per line.",
        discussion: """
            Checks: RDMA devices with an ACTIVE port, device nodes, sysfs files, memlock, \
            /dev/shm, nvidia_peermem when NVIDIA GPUs are present, NCCL settings, and that \
            the mpirun on PATH is the Open MPI baton is linked against. Exit 0 when nothing \
            failed (warnings do not fail), 1 when a check failed.
            """)

    @OptionGroup var roots: RootOptions

    @Flag(help: "Print a JSON object instead of the list.")
    var json = false

    @Flag(help: .hidden)
    var compact = false

    @Option(help: "Run the checks on these hosts (comma-separated) through mpirun, one row per host.")
    var hosts: String?

    @Option(help: "The mpirun to start the remote doctors with (default: the one on PATH).")
    var mpirun: String?

    @Option(help: "Extra argument for mpirun in --hosts mode (repeatable), e.g. --mpirun-arg=--oversubscribe.")
    var mpirunArg: [String] = []

    @Option(help: "Seconds to wait for all hosts in --hosts mode.")
    var timeout: Double = 120

    func run() throws {
        if let hosts {
            try runOnHosts(hosts)
            return
        }
        let report = Prober(roots: roots.roots).run()
        let doctor = Doctor(context: DoctorContext(roots: roots.roots)).run(report: report)
        if json || compact {
            let rank = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_RANK"].flatMap { Int($0) }
            print(doctor.json(rank: rank).rendered(pretty: !compact))
        } else {
            print(doctor.text, terminator: "")
        }
        // --compact is the per-host mode under `doctor --hosts`: the verdict travels in the
        // JSON, and a non-zero exit would make mpirun abort the other hosts' doctors.
        if doctor.exitCode != ExitCodes.success && !compact { throw ExitCode(doctor.exitCode) }
    }

    private func runOnHosts(_ list: String) throws {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw ValidationError("--hosts needs at least one host name") }
        guard let mpirunPath = mpirun ?? DoctorPaths.which("mpirun") else {
            print("baton doctor: no mpirun on PATH; --hosts needs Open MPI's mpirun (Debian: openmpi-bin)")
            throw ExitCode(ExitCodes.unavailable)
        }
        let plan = DoctorHosts(hosts: names, mpirun: mpirunPath, baton: DoctorHosts.ownExecutable,
                               forwarded: roots.forwarded, timeout: timeout, extraMPIArgs: mpirunArg)
        let (rows, failure) = try plan.run()
        print(DoctorHosts.table(rows), terminator: "")
        if let failure { print("baton doctor: \(failure)") }
        if rows.contains(where: { $0.reportedName == nil || $0.verdict == "fail" }) { throw ExitCode(ExitCodes.checkFailed) }
    }
}

enum DoctorPaths {
    static func which(_ name: String) -> String? {
        ProcessRunner.which(name, environment: ProcessInfo.processInfo.environment)
    }
}
