/// Contiguous storage of MPI scalars that MPI can read in place (zero-copy).
///
/// `Array`, `ContiguousArray`, `ArraySlice`, the unsafe buffer pointers and `MessageBuffer`
/// conform. The pointer handed to `body` is valid only inside it.
public protocol MPIBuffer<Element> {
    associatedtype Element: MPIScalar
    func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R
}

/// Contiguous storage MPI can write into in place.
public protocol MPIMutableBuffer<Element>: MPIBuffer {
    mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (inout UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R
}

extension Array: MPIBuffer where Element: MPIScalar {}
extension Array: MPIMutableBuffer where Element: MPIScalar {}
extension ContiguousArray: MPIBuffer where Element: MPIScalar {}
extension ContiguousArray: MPIMutableBuffer where Element: MPIScalar {}
extension ArraySlice: MPIBuffer where Element: MPIScalar {}
extension ArraySlice: MPIMutableBuffer where Element: MPIScalar {}

extension UnsafeBufferPointer: MPIBuffer where Element: MPIScalar {
    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R { try body(self) }
}

extension UnsafeMutableBufferPointer: MPIBuffer where Element: MPIScalar {
    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R { try body(UnsafeBufferPointer(self)) }
}

extension UnsafeMutableBufferPointer: MPIMutableBuffer where Element: MPIScalar {
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (inout UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        var copy = self
        return try body(&copy)
    }
}

/// Memory owned by the bindings for non-blocking calls: a `Request` keeps its buffer
/// alive until it completes, so MPI never writes into freed memory.
public final class MessageBuffer<Element: MPIScalar>: MPIMutableBuffer, @unchecked Sendable {
    @usableFromInline let storage: UnsafeMutableBufferPointer<Element>

    public init(repeating value: Element, count: Int) {
        storage = .allocate(capacity: count)
        storage.initialize(repeating: value)
    }

    public init(_ elements: some Collection<Element>) {
        storage = .allocate(capacity: elements.count)
        _ = storage.initialize(from: elements)
    }

    deinit { storage.deallocate() }

    @inlinable public var count: Int { storage.count }

    @inlinable public subscript(index: Int) -> Element {
        get { storage[index] }
        set { storage[index] = newValue }
    }

    /// A copy of the contents.
    public var array: [Element] { Array(storage) }

    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R { try body(UnsafeBufferPointer(storage)) }

    @inlinable
    public func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (inout UnsafeMutableBufferPointer<Element>) throws(E) -> R
    ) throws(E) -> R {
        var copy = storage
        return try body(&copy)
    }
}

/// A non-null address for zero-element buffers: some MPI implementations check the
/// pointer before the count.
@usableFromInline nonisolated(unsafe) let emptyBufferAddress = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)

extension UnsafeBufferPointer {
    @inlinable var mpiAddress: UnsafeRawPointer { baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(emptyBufferAddress) }
}
extension UnsafeMutableBufferPointer {
    @inlinable var mpiAddress: UnsafeMutableRawPointer { baseAddress.map { UnsafeMutableRawPointer($0) } ?? emptyBufferAddress }
}
