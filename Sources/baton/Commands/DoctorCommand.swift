import ArgumentParser
import BatonCore
import BatonSupport
import BatonTools
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

    @Option(defaultAsFlag: "", parsing: .next,
            help: ArgumentHelp("Run the checks on these hosts (comma-separated) through mpirun, one row per host.",
                               discussion: "A bare --hosts inside a Slurm allocation (salloc, sbatch) checks every node of it, from SLURM_JOB_NODELIST; a node that does not answer is a NO ANSWER row and fails the run.",
                               valueName: "host,..."))
    var hosts: String? = nil

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
        if doctor.exitCode != ExitCodes.success && !compact { throw CommandFailure(doctor.exitCode) }
    }

    private func runOnHosts(_ list: String) throws {
        var names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var allocation: SlurmAllocation?
        if names.isEmpty {
            guard let found = SlurmAllocation.current(environment: ProcessInfo.processInfo.environment) else {
                throw ValidationError("--hosts with no host list checks the nodes of the Slurm allocation it runs in, and there is none here (no SLURM_JOB_ID and SLURM_JOB_NODELIST); name the hosts: --hosts node1,node2")
            }
            names = found.nodes
            allocation = found
            print("baton doctor: the \(names.count) nodes of Slurm job \(found.jobID) (SLURM_JOB_NODELIST): \(names.joined(separator: ","))")
        }
        guard let mpirunPath = mpirun ?? DoctorPaths.which("mpirun") else {
            print("baton doctor: no mpirun on PATH; --hosts needs Open MPI's mpirun (Debian: openmpi-bin)")
            throw CommandFailure(ExitCodes.unavailable)
        }
        let plan = DoctorHosts(hosts: names, mpirun: mpirunPath, baton: DoctorHosts.ownExecutable,
                               forwarded: roots.forwarded, timeout: timeout, extraMPIArgs: mpirunArg)
        let rows: [DoctorHosts.Row]
        let failures: [String]
        if let allocation {
            // One srun step per node (--overlap, beside the job's own steps; --exclude the
            // others): a lost node is its own NO ANSWER row instead of failing every row.
            (rows, failures) = plan.runEach { allocation.mpirunArguments(for: [$0]) }
        } else {
            let (all, failure) = try plan.run()
            (rows, failures) = (all, failure.map { [$0] } ?? [])
        }
        print(DoctorHosts.table(rows), terminator: "")
        for failure in failures { print("baton doctor: \(failure)") }
        if rows.contains(where: { $0.reportedName == nil || $0.verdict == "fail" }) { throw CommandFailure.checkFailed }
    }
}

enum DoctorPaths {
    static func which(_ name: String) -> String? {
        ProcessRunner.which(name, environment: ProcessInfo.processInfo.environment)
    }
}
