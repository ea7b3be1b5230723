import Testing
@testable import MPI

/// Calls on MPI_COMM_SELF inside the test process. The multi-rank behaviour is checked
/// by `baton selftest` under mpirun (scripts/test runs it on 1 to 4 ranks).
@Suite(.serialized) struct SelfCommunicatorTests {
    @Test func environmentReportsLibraryAndThreadLevel() throws {
        #expect(MPITestSupport.provided >= .single)
        #expect(MPIEnvironment.isInitialized)
        #expect(!MPIEnvironment.isFinalized)
        #expect(MPIEnvironment.libraryVersion.contains("Open MPI"))
        #expect(try !MPIEnvironment.processorName().isEmpty)
        #expect(MPIEnvironment.standardVersion.major >= 3)
    }

    @Test func selfCommunicatorHasOneRank() {
        #expect(MPITestSupport.comm.rank == 0)
        #expect(MPITestSupport.comm.size == 1)
    }

    @Test func duplicateAndSplitGiveWorkingCommunicators() throws {
        let dup = try MPITestSupport.comm.duplicate()
        #expect(dup.size == 1)
        var v: [Int64] = [41]
        try dup.allReduce(&v, op: .max)
        #expect(v == [41])
        let split = try MPITestSupport.comm.split(color: 3, key: 0)
        #expect(split?.size == 1)
        #expect(try MPITestSupport.comm.split(color: nil) == nil)
        #expect(try MPITestSupport.comm.splitByNode().size == 1)
        // Errors on a derived communicator are returned too (the errhandler is set on it).
        #expect(throws: MPIError.self) { try dup.send([UInt8(0)], to: 3) }
    }

    @Test func sendReceiveToSelfReportsSourceTagAndCount() throws {
        let comm = MPITestSupport.comm
        var got = [UInt16](repeating: 0, count: 4)
        let status = try comm.sendReceive([1, 2, 3, 4] as [UInt16], to: 0, sendTag: 9, into: &got, from: 0, receiveTag: 9)
        #expect(got == [1, 2, 3, 4])
        #expect(status == Status(source: 0, tag: 9, count: 4, byteCount: 8))
    }

    @Test func nonBlockingRequestsCompleteThroughTestWaitAndGroups() throws {
        let comm = MPITestSupport.comm
        let inbox = MessageBuffer<Double>(repeating: 0, count: 3)
        var receive = try comm.irecv(into: inbox, from: 0, tag: 5)
        #expect(try receive.test() == nil, "nothing was sent yet")
        var group = RequestGroup(capacity: 1)
        group.add(try comm.isend(MessageBuffer([1.5, 2.5, 3.5]), to: 0, tag: 5))
        group.add(try comm.isend(MessageBuffer([9.0]), to: 0, tag: 6))
        #expect(group.pendingCount == 2)
        let status = try receive.wait()
        #expect(inbox.array == [1.5, 2.5, 3.5])
        #expect(status.count == 3)
        let probe = try comm.probe(Double.self, from: .any, tag: 6)
        #expect(probe.count == 1 && probe.tag == 6)
        var last = [Double](repeating: 0, count: 1)
        try comm.receive(into: &last, from: .any, tag: .any)
        try group.waitAll()
        #expect(group.pendingCount == 0)
        #expect(last == [9.0])
    }

    @Test func ibarrierCompletesThroughTestOnOneRank() throws {
        var request = try MPITestSupport.comm.ibarrier()
        var polls = 0
        while try request.test() == nil && polls < 100_000 { polls += 1 }
        #expect(try request.test() != nil, "a barrier of one rank completes once progressed")
        _ = try request.wait()
    }

    @Test func zeroCountCollectivesSucceed() throws {
        let comm = MPITestSupport.comm
        var empty: [Int32] = []
        try comm.allReduce(&empty, op: .sum)
        try comm.broadcast(&empty, root: 0)
        var out: [Int32] = []
        try comm.allToAll([Int32](), into: &out)
        try comm.allGatherV([Int32](), into: &out, counts: [0])
        #expect(out.isEmpty)
    }

    @Test func contiguousBufferKindsAreAcceptedZeroCopy() throws {
        let comm = MPITestSupport.comm
        var contiguous: ContiguousArray<Int8> = [1, -2, 3]
        try comm.allReduce(&contiguous, op: .sum)
        #expect(Array(contiguous) == [1, -2, 3])
        let storage = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: 2)
        defer { storage.deallocate() }
        storage.initialize(repeating: 6)
        var view = storage
        try comm.allReduce(&view, op: .product)
        #expect(Array(storage) == [6, 6])
        var slice = [UInt64](repeating: 4, count: 10)[2..<5]
        try comm.allReduce(&slice, op: .bitwiseOr)
        #expect(Array(slice) == [4, 4, 4])
    }
}
