import Foundation
import MPI

extension Communicator {
    /// A barrier whose waiting ranks sleep instead of spinning: `MPI_Ibarrier`, then tests
    /// with a pause that doubles from 20 µs up to 1 ms.
    ///
    /// For benchmarks that measure some ranks while the others wait. Open MPI's blocking
    /// calls spin (or, with `mpi_yield_when_idle`, yield in a loop); where ranks share cores
    /// (the namespace test bed, a node run with more ranks than cores) the waiting ranks take
    /// CPU from the pair being measured. A waiting rank now costs a wake-up per pause, and a
    /// barrier at most about a millisecond more, spent outside every timed region.
    func quietBarrier() throws(MPIError) {
        var request = try ibarrier()
        var pause: UInt32 = 20
        while try request.test() == nil {
            usleep(pause)
            pause = Swift.min(pause * 2, 1_000)
        }
        _ = try request.wait()
    }
}
