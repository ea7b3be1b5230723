import BatonProtocol
import Foundation

/// What kind of run a directory holds.
public enum RunKind: String, Sendable, Codable {
    case launch, grid
}

extension RunDirectory {
    /// The kind of run this directory holds, nil when it holds none: the one rule every
    /// reader (`runs`, `status`, `logs`, `report`, snapshots) goes by. A grid has its store;
    /// a launch has its store, or (made before the store) its command line, its events or
    /// its attempts folder. A grid's attempt folders (`configs/ID/mpirun/attempt-N`) are
    /// launch runs of their own.
    public var kind: RunKind? {
        let fm = FileManager.default
        if fm.fileExists(atPath: gridStore) { return .grid }
        if [launchStore, settings, events, attempts].contains(where: fm.fileExists(atPath:)) { return .launch }
        return nil
    }
}
