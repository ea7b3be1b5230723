import Testing
@testable import MPI

@Suite(.serialized) struct ErrorPathTests {
    @Test func sendToARankOutsideTheCommunicatorThrowsATypedErrorInsteadOfAborting() throws {
        let comm = MPITestSupport.comm
        let error = #expect(throws: MPIError.self) { try comm.send([1, 2, 3] as [Int32], to: 5, tag: 0) }
        #expect(error?.code == .rank)
        #expect(error?.function == "MPI_Send")
        #expect(error?.message.isEmpty == false)
        // The process is still alive and MPI still works afterwards.
        var x: [Int32] = [7]
        try comm.allReduce(&x, op: .sum)
        #expect(x == [7])
    }

    @Test func bitwiseReductionOnFloatingPointIsAnMPIOpError() {
        let comm = MPITestSupport.comm
        var x: [Double] = [1.5]
        let error = #expect(throws: MPIError.self) { try comm.allReduce(&x, op: .bitwiseAnd) }
        #expect(error?.code == .op)
        #expect(error?.function == "MPI_Allreduce")
        #expect(error.map { "\($0)" }?.hasPrefix("MPI_Allreduce failed: ") == true)
    }

    @Test func negativeTagIsRejectedByMPI() {
        let comm = MPITestSupport.comm
        let error = #expect(throws: MPIError.self) { try comm.send([UInt8(1)], to: 0, tag: -7) }
        #expect(error?.code == .tag)
    }

    @Test func countsAboveInt32MaxAreRefusedBeforeMPIIsCalled() {
        let comm = MPITestSupport.comm
        // A buffer that claims 2^31 elements over 64 real bytes: never dereferenced,
        // because the count is refused first.
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        defer { storage.deallocate() }
        let huge = UnsafeBufferPointer(start: storage.assumingMemoryBound(to: UInt8.self), count: Int(Int32.max) + 1)
        let error = #expect(throws: MPIError.self) { try comm.send(huge, to: 0, tag: 0) }
        #expect(error?.code == .countOverflow)
        #expect(error?.message.contains("2147483648") == true)
    }

    @Test func mismatchedBufferSizesAreInvalidArgumentsNamingTheCall() {
        let comm = MPITestSupport.comm
        var out = [Float](repeating: 0, count: 2)
        let error = #expect(throws: MPIError.self) { try comm.allReduce([1, 2, 3] as [Float], into: &out, op: .sum) }
        #expect(error?.code == .invalidArgument)
        #expect(error?.function == "MPI_Allreduce")
        var gathered = [Int16](repeating: 0, count: 5)
        let g = #expect(throws: MPIError.self) { try comm.allGather([1, 2] as [Int16], into: &gathered) }
        #expect(g?.function == "MPI_Allgather")
    }

    @Test func negativeSplitColorIsRefused() {
        let error = #expect(throws: MPIError.self) { _ = try MPITestSupport.comm.split(color: -3) }
        #expect(error?.code == .invalidArgument)
    }
}
