// Per-call overhead of the Swift MPI bindings on MPI_COMM_SELF: the library's own cost
// is tiny there (no network, one rank), so what remains is what Swift adds around the
// C call (generic dispatch, buffer access, error checking). Compare with the C
// baseline in Benchmarks/c-baseline for the same calls.
import Benchmark
import MPI

nonisolated(unsafe) private var started = false

private func startMPI() {
    if !started {
        _ = try? MPIEnvironment.initialize(requesting: .single)
        started = true
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000)

    Benchmark("allreduce 8 B in place (COMM_SELF)") { benchmark in
        startMPI()
        let comm = Communicator.selfOnly
        var buffer: [Double] = [1.0]
        for _ in benchmark.scaledIterations {
            try comm.allReduce(&buffer, op: .sum)
        }
        blackHole(buffer)
    }

    Benchmark("sendrecv 8 B to self (COMM_SELF)") { benchmark in
        startMPI()
        let comm = Communicator.selfOnly
        let out: [Int64] = [42]
        var inbox: [Int64] = [0]
        for _ in benchmark.scaledIterations {
            try comm.sendReceive(out, to: 0, into: &inbox, from: 0)
        }
        blackHole(inbox)
    }

    Benchmark("barrier (COMM_SELF)") { benchmark in
        startMPI()
        let comm = Communicator.selfOnly
        for _ in benchmark.scaledIterations {
            try comm.barrier()
        }
    }

    Benchmark("isend+irecv+waitAll 8 B (COMM_SELF)") { benchmark in
        startMPI()
        let comm = Communicator.selfOnly
        let out = MessageBuffer<Int64>(repeating: 7, count: 1)
        let inbox = MessageBuffer<Int64>(repeating: 0, count: 1)
        var group = RequestGroup(capacity: 2)
        for _ in benchmark.scaledIterations {
            group.add(try comm.irecv(into: inbox, from: 0, tag: 1))
            group.add(try comm.isend(out, to: 0, tag: 1))
            try group.waitAll()
        }
        blackHole(inbox[0])
    }
}
