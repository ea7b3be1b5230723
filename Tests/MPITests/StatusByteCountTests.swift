import Testing
@testable import MPI

/// `Status` reads the received byte count from Open MPI's status directly (the
/// `cmpi_status_byte_count` shim) instead of calling `MPI_Get_count`; these pin that the
/// two agree on sizes across the eager/rendezvous boundary and on element counts.
@Suite struct StatusByteCountTests {
    @Test(arguments: [0, 1, 7, 4096, 65_537, 1 << 20])
    func receivedByteCountMatchesWhatWasSent(bytes: Int) throws {
        let comm = try MPITestSupport.comm.duplicate()
        let payload = [UInt8](repeating: 5, count: bytes)
        var buffer = [UInt8](repeating: 0, count: bytes + 16)
        let status = try comm.sendReceive(payload, to: 0, sendTag: 3, into: &buffer, from: 0, receiveTag: 3)
        #expect(status.byteCount == bytes)
        #expect(status.count == bytes)
    }

    @Test func elementCountDividesByTheElementSize() throws {
        let comm = try MPITestSupport.comm.duplicate()
        var buffer = [Int32](repeating: 0, count: 10)
        let status = try comm.sendReceive([Int32](repeating: 9, count: 6), to: 0, sendTag: 4, into: &buffer, from: 0, receiveTag: 4)
        #expect(status.byteCount == 24)
        #expect(status.count == 6)
    }
}
