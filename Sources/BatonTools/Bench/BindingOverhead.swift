import MPI

/// The cost of one blocking send plus receive of a few bytes to this same rank
/// (`MPI_COMM_SELF`), through the Swift bindings: no second process, so the figure
/// holds still on a busy machine and shows what the bindings add to each call when
/// compared with the C twin (`Benchmarks/c-baseline/selfloop.c`).
public enum BindingOverhead {
    /// The best of `repetitions` runs of `iterations` send+receive pairs, in ns per pair.
    public static func sendReceiveNanoseconds(size: Int = 8, iterations: Int = 100_000, repetitions: Int = 15) throws -> Double {
        let comm = Communicator.selfOnly
        let send = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, size))
        let receive = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, size))
        defer {
            send.deallocate()
            receive.deallocate()
        }
        send.initialize(repeating: 1)
        receive.initialize(repeating: 0)
        let outgoing = UnsafeMutableBufferPointer(rebasing: send[0..<size])
        var incoming = UnsafeMutableBufferPointer(rebasing: receive[0..<size])
        let from = Source.rank(0)
        let tag = Tag.value(1)
        var best = Double.infinity
        for _ in 0..<repetitions {
            let start = MPIEnvironment.wallTime()
            for _ in 0..<iterations {
                try comm.send(outgoing, to: 0, tag: 1)
                try comm.receive(into: &incoming, from: from, tag: tag)
            }
            best = min(best, (MPIEnvironment.wallTime() - start) * 1e9 / Double(iterations))
        }
        return best
    }
}
