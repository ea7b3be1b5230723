// Glibc only: baton-exec, which every rank starts, links this module.
#if canImport(Glibc)
import Glibc
#endif

/// Starts a detached thread running `body`.
public func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box { let name: String; let body: @Sendable () -> Void; init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b } }
    let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
    var tid = pthread_t()
    let rc = pthread_create(&tid, &attr, { arg in
        let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()

        box.body()
        return nil
    }, box)
    pthread_attr_destroy(&attr)
    precondition(rc == 0, "cannot start thread \(name): error \(rc)")
}
