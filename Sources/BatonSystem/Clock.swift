// Glibc only: baton-exec, which every rank starts, links this module.
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds (CLOCK_MONOTONIC), immune to wall-clock steps.
public func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
