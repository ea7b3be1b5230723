import Testing
@testable import MPI

@Suite struct DatatypeTests {
    @Test func fixedWidthScalarsMapToDistinctDatatypes() {
        let types: [Datatype] = [
            Int8.mpiDatatype, Int16.mpiDatatype, Int32.mpiDatatype, Int64.mpiDatatype,
            UInt8.mpiDatatype, UInt16.mpiDatatype, UInt32.mpiDatatype, UInt64.mpiDatatype,
            Float.mpiDatatype, Double.mpiDatatype,
        ]
        for (i, a) in types.enumerated() {
            for b in types[(i + 1)...] { #expect(a != b, "\(a) and \(b) share a handle") }
        }
        #expect(Int.mpiDatatype == Int64.mpiDatatype)
    }

    @Test func logicalAndBitwiseOperationsAreUndefinedOnFloatingPoint() {
        #expect(!ReductionOp.logicalOr.isDefined(for: .floatingPoint))
        #expect(!ReductionOp.bitwiseAnd.isDefined(for: .floatingPoint))
        #expect(ReductionOp.bitwiseOr.isDefined(for: .unsignedInteger))
        #expect(ReductionOp.sum.isDefined(for: .floatingPoint))
    }
}
