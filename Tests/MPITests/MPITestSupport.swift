@testable import MPI

/// MPI is started once per test process, as a singleton (no mpirun), and never
/// finalized: MPI cannot be re-initialized in one process.
enum MPITestSupport {
    static let provided: ThreadLevel = {
        do { return try MPIEnvironment.initialize(requesting: .multiple) } catch { fatalError("MPI_Init_thread failed: \(error)") }
    }()

    static var comm: Communicator {
        _ = provided
        return .selfOnly
    }
}
