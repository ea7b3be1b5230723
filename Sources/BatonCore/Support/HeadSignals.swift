import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

/// A head's SIGINT, SIGTERM and SIGHUP: blocked in every thread and taken by one `sigwait`
/// thread, which hands each to the head's `interrupt` (a supervisor's or a scheduler's stop);
/// SIGPIPE ignored (leases go to mpirun's stdin, and one that has just ended must not kill
/// the head). Install before the head starts any thread: threads inherit the mask, and one
/// started before would take a signal's default action. Children get a clean mask
/// (`ChildProcess`).
public final class HeadSignals: Sendable {
    private let received = Locked<Int32?>(nil)

    /// The first signal taken, if any.
    public var signal: Int32? { received.with { $0 } }

    public static func install(_ interrupt: @escaping @Sendable (Int32) -> Void) -> HeadSignals {
        let me = HeadSignals()
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        Glibc.signal(SIGPIPE, SIG_IGN)
        let signals = set
        startThread("baton-head-signals") {
            var s = signals
            while true {
                var sig: Int32 = 0
                guard sigwait(&s, &sig) == 0 else { continue }
                me.received.with { if $0 == nil { $0 = sig } }
                interrupt(sig)
            }
        }
        return me
    }
}
