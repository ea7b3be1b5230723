@testable import BatonLaunch
@testable import BatonProtocol
@testable import BatonSystem
#if canImport(Glibc)
import Glibc
#endif

// The same test double as in BatonReportsTests/LaunchStoreTests.swift (a test target cannot
// import another's declarations).

/// A job that has ended (`status`) or runs until it is terminated or killed.
final class FakeJob: RunningJob, @unchecked Sendable {
    let state: Locked<BatonSystem.ExitStatus?>
    init(status: BatonSystem.ExitStatus?) { state = Locked(status) }
    /// No such process: nothing to watch or sweep.
    var pid: pid_t { 0x3fff_fff0 }
    func send(_ message: HeadMessage) -> Bool { true }
    func terminate() { state.with { if $0 == nil { $0 = .signaled(SIGTERM) } } }
    func kill() { state.with { if $0 == nil { $0 = .signaled(SIGKILL) } } }
    func poll() -> BatonSystem.ExitStatus? { state.get }
    var outputFinished: Bool { true }
}
