import CMPI

/// An MPI datatype handle for one of the predefined scalar types.
public struct Datatype: Sendable, Equatable, CustomStringConvertible {
    @usableFromInline nonisolated(unsafe) let raw: MPI_Datatype
    public let name: String
    @usableFromInline init(_ raw: MPI_Datatype, _ name: String) {
        self.raw = raw
        self.name = name
    }
    public static func == (a: Datatype, b: Datatype) -> Bool { a.raw == b.raw }
    public var description: String { name }
}

/// The family of a scalar type, which decides which reductions MPI allows on it
/// (MPI-3.1 section 5.9.2: bitwise operations are for integers only).
public enum ScalarKind: Sendable {
    case signedInteger, unsignedInteger, floatingPoint
}

/// A Swift scalar with a predefined MPI datatype of the same size and representation.
/// The mapping is fixed-width (`Int32` is `MPI_INT32_T`), so it is the same on every
/// platform.
public protocol MPIScalar: BitwiseCopyable, Sendable, Equatable {
    static var mpiDatatype: Datatype { get }
    static var scalarKind: ScalarKind { get }
}

extension Int8: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_int8(), "int8") }
    public static var scalarKind: ScalarKind { .signedInteger }
}
extension Int16: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_int16(), "int16") }
    public static var scalarKind: ScalarKind { .signedInteger }
}
extension Int32: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_int32(), "int32") }
    public static var scalarKind: ScalarKind { .signedInteger }
}
extension Int64: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_int64(), "int64") }
    public static var scalarKind: ScalarKind { .signedInteger }
}
extension Int: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype {
        MemoryLayout<Int>.size == 8 ? Datatype(cmpi_int64(), "int64") : Datatype(cmpi_int32(), "int32")
    }
    public static var scalarKind: ScalarKind { .signedInteger }
}
extension UInt8: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_uint8(), "uint8") }
    public static var scalarKind: ScalarKind { .unsignedInteger }
}
extension UInt16: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_uint16(), "uint16") }
    public static var scalarKind: ScalarKind { .unsignedInteger }
}
extension UInt32: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_uint32(), "uint32") }
    public static var scalarKind: ScalarKind { .unsignedInteger }
}
extension UInt64: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_uint64(), "uint64") }
    public static var scalarKind: ScalarKind { .unsignedInteger }
}
extension UInt: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype {
        MemoryLayout<UInt>.size == 8 ? Datatype(cmpi_uint64(), "uint64") : Datatype(cmpi_uint32(), "uint32")
    }
    public static var scalarKind: ScalarKind { .unsignedInteger }
}
extension Float: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_float(), "float") }
    public static var scalarKind: ScalarKind { .floatingPoint }
}
extension Double: MPIScalar {
    @inlinable public static var mpiDatatype: Datatype { Datatype(cmpi_double(), "double") }
    public static var scalarKind: ScalarKind { .floatingPoint }
}

/// A predefined reduction operation.
public struct ReductionOp: Sendable, Equatable, CustomStringConvertible {
    @usableFromInline nonisolated(unsafe) let raw: MPI_Op
    public let name: String
    @usableFromInline init(_ raw: MPI_Op, _ name: String) {
        self.raw = raw
        self.name = name
    }
    public static func == (a: ReductionOp, b: ReductionOp) -> Bool { a.raw == b.raw }
    public var description: String { name }

    /// `MPI_SUM`
    public static var sum: ReductionOp { ReductionOp(cmpi_op_sum(), "sum") }
    /// `MPI_PROD`
    public static var product: ReductionOp { ReductionOp(cmpi_op_prod(), "prod") }
    /// `MPI_MIN`
    public static var min: ReductionOp { ReductionOp(cmpi_op_min(), "min") }
    /// `MPI_MAX`
    public static var max: ReductionOp { ReductionOp(cmpi_op_max(), "max") }
    /// `MPI_LAND`: integers only; non-zero is true, the result is 1 or 0.
    public static var logicalAnd: ReductionOp { ReductionOp(cmpi_op_land(), "land") }
    /// `MPI_LOR`: integers only.
    public static var logicalOr: ReductionOp { ReductionOp(cmpi_op_lor(), "lor") }
    /// `MPI_BAND`: integers only.
    public static var bitwiseAnd: ReductionOp { ReductionOp(cmpi_op_band(), "band") }
    /// `MPI_BOR`: integers only.
    public static var bitwiseOr: ReductionOp { ReductionOp(cmpi_op_bor(), "bor") }

    public static var all: [ReductionOp] {
        [.sum, .product, .min, .max, .logicalAnd, .logicalOr, .bitwiseAnd, .bitwiseOr]
    }

    /// Whether MPI defines this operation on the given kind of scalar: logical and
    /// bitwise operations are for integers only (MPI-3.1 section 5.9.2).
    public func isDefined(for kind: ScalarKind) -> Bool {
        switch self {
        case .logicalAnd, .logicalOr, .bitwiseAnd, .bitwiseOr: return kind != .floatingPoint
        default: return true
        }
    }
}
