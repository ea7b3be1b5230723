import BatonGrid
import BatonRuns
import BatonProtocol
import BatonSupport
import BatonSystem
import BatonTools
import BatonTrainer

// Here, in the CLI, because it is the one place that sees every layer's errors: the tools
// and the launcher do not know each other.
extension ExitCodes {
    /// The one table from each module's error to `baton`'s exit code.
    static func code(for error: any Error) -> Int32 {
        switch error {
        case is HostListError, is GridSpecError, is GridRunError, is ShardError:
            return badInput
        case let e as LaunchError:
            switch e.code {
            case .badInput: return badInput
            case .unavailable: return unavailable
            default: return jobFailed
            }
        case let e as BenchError:
            switch e.code {
            case .unavailable: return unavailable
            case .callFailed: return jobFailed
            default: return badInput
            }
        case is SpawnError:
            return unavailable
        case let e as SnapshotError:
            switch e.code {
            case .dataError: return dataError
            case .ioError: return ioError
            default: return badInput
            }
        default:
            return jobFailed
        }
    }
}
