import Testing
@testable import BatonRuns
@testable import BatonProtocol
import BatonTrainer
@testable import BatonSupport
@testable import BatonTools
@testable import baton

@Test func exitCodesAreDistinct() {
    let codes = [ExitCodes.success, ExitCodes.checkFailed, ExitCodes.badInput, ExitCodes.unavailable, ExitCodes.jobFailed, ExitCodes.usage, ExitCodes.dataError, ExitCodes.ioError, ExitCodes.interrupted]
    #expect(Set(codes).count == codes.count)
}

@Test func everyModulesErrorMapsToTheDocumentedExitCode() {
    #expect(ExitCodes.code(for: HostListError(source: "h", line: 1, column: 1, message: "x")) == ExitCodes.badInput)
    #expect(ExitCodes.code(for: ShardError(.badArgument, "x")) == ExitCodes.badInput)
    #expect(ExitCodes.code(for: LaunchError(.badInput, "x")) == ExitCodes.badInput)
    #expect(ExitCodes.code(for: LaunchError(.unavailable, "x")) == ExitCodes.unavailable)
    #expect(ExitCodes.code(for: LaunchError(.cannotStart, "x")) == ExitCodes.jobFailed)
    #expect(ExitCodes.code(for: BenchError(.unavailable, "x")) == ExitCodes.unavailable)
    #expect(ExitCodes.code(for: BenchError(.badOption, "x")) == ExitCodes.badInput)
    #expect(ExitCodes.code(for: GridRunError("x")) == ExitCodes.badInput)
    #expect(ExitCodes.code(for: SnapshotError(.dataError, "x")) == ExitCodes.dataError)
    #expect(ExitCodes.code(for: SnapshotError(.ioError, "x")) == ExitCodes.ioError)
    #expect(ExitCodes.code(for: SnapshotError(.badInput, "x")) == ExitCodes.badInput)
}
