#if canImport(Glibc)
import Glibc
#endif
import MPI

/// A scalar the selftest can fill with values each rank computes locally, and whose
/// reductions it can recompute locally. Integer arithmetic wraps, as MPI's C
/// reductions do on every platform Open MPI supports.
protocol CheckableScalar: MPIScalar, CustomStringConvertible {
    init(small: Int)
    static func combine(_ a: Self, _ b: Self, _ op: ReductionOp) -> Self
}

extension CheckableScalar where Self: FixedWidthInteger {
    init(small: Int) { self.init(truncatingIfNeeded: small) }
    static func combine(_ a: Self, _ b: Self, _ op: ReductionOp) -> Self {
        switch op {
        case .sum: return a &+ b
        case .product: return a &* b
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        case .logicalAnd: return (a != 0 && b != 0) ? 1 : 0
        case .logicalOr: return (a != 0 || b != 0) ? 1 : 0
        case .bitwiseAnd: return a & b
        case .bitwiseOr: return a | b
        default: preconditionFailure("selftest has no local model of \(op)")
        }
    }
}

extension CheckableScalar where Self: BinaryFloatingPoint {
    init(small: Int) { self.init(small) }
    static func combine(_ a: Self, _ b: Self, _ op: ReductionOp) -> Self {
        switch op {
        case .sum: return a + b
        case .product: return a * b
        case .min: return Swift.min(a, b)
        case .max: return Swift.max(a, b)
        default: preconditionFailure("\(op) is not defined on floating point")
        }
    }
}

extension Int8: CheckableScalar {}
extension Int16: CheckableScalar {}
extension Int32: CheckableScalar {}
extension Int64: CheckableScalar {}
extension UInt8: CheckableScalar {}
extension UInt16: CheckableScalar {}
extension UInt32: CheckableScalar {}
extension UInt64: CheckableScalar {}
extension Float: CheckableScalar {}
extension Double: CheckableScalar {}

/// The first element where two buffers differ, for a failure message.
struct Mismatch: Equatable, Sendable {
    let index: Int
    let expected: String
    let got: String
}

/// Compares `got` with `expected` element by element and returns the first difference,
/// or a length mismatch as index = the shorter count.
func firstMismatch<T: MPIScalar & CustomStringConvertible>(expected: [T], got: [T]) -> Mismatch? {
    // Bitwise equality first (memcmp): the values are exact, and an element-wise
    // generic loop is slow in debug builds.
    if expected.count == got.count {
        let same = expected.withUnsafeBytes { e in got.withUnsafeBytes { g in e.count == g.count && (e.count == 0 || memcmp(e.baseAddress!, g.baseAddress!, e.count) == 0) } }
        if same { return nil }
    }
    var i = 0
    var e = expected.makeIterator(), g = got.makeIterator()
    while true {
        switch (e.next(), g.next()) {
        case (nil, nil): return nil
        case (let x?, let y?):
            if x != y { return Mismatch(index: i, expected: x.description, got: y.description) }
        case (let x?, nil): return Mismatch(index: i, expected: x.description, got: "(missing)")
        case (nil, let y?): return Mismatch(index: i, expected: "(nothing)", got: y.description)
        }
        i += 1
    }
}
