import ArgumentParser
import Foundation
import Testing
@testable import BatonRuns
@testable import BatonProtocol
@testable import BatonSupport
@testable import BatonSystem
@testable import BatonTools
@testable import BatonTrainer
import MPI
@testable import baton

/// One value of every error type that reaches the user, for every code it can end with.
/// A new `BatonError` type is found in the sources by `everyErrorTypeIsWalked` and must be
/// added here.
let errorSamples: [any BatonError] = [
    HostListError(source: "h", line: 1, column: 1, message: "x"),
    ShardError(.badArgument, "x"),
    SpawnError(executable: "x", errno: 2),
    MPIError(code: .invalidArgument, function: "MPI_Send", message: "x"),
    LaunchError(.badInput, "x"), LaunchError(.unavailable, "x"), LaunchError(.cannotStart, "x"),
    GridSpecError("x", at: nil, file: "f"),
    GridRunError("x"), GridRunError("x", exitCode: ExitCodes.jobFailed), GridRunError("x", exitCode: ExitCodes.usage),
    SnapshotError(.badInput, "x"), SnapshotError(.dataError, "x"), SnapshotError(.ioError, "x"),
    BenchError(.badOption, "x"), BenchError(.unavailable, "x"), BenchError(.callFailed, "x"),
    ContainerConfigError(.notBatons, "x"), ContainerConfigError(.ioError, "x"), CodedError(.dataError, "x"),
    CommandFailure.checkFailed, CommandFailure.jobFailed, CommandFailure.interrupted, CommandFailure.usage("x"),
    CommandFailure(ExitCodes.dataError), CommandFailure(ExitCodes.unavailable),
]

struct NotABatonError: Error {}

@Test func exitCodesAreDistinct() {
    let codes = ExitCodes.documented.map(\.code)
    #expect(Set(codes).count == codes.count)
}

@Test("every documented exit code is produced by some error (or is success), and every error's code is documented")
func theTableIsWalked() {
    let documented = Set(ExitCodes.documented.map(\.code))
    var produced = Set(errorSamples.map { ExitCodes.code(for: $0) })
    produced.insert(ExitCodes.code(for: NotABatonError()))
    produced.insert(ExitCodes.success)
    #expect(produced == documented)
}

@Test("an error that is no BatonError is an internal error, never the parser's 1 (a check failed)")
func unknownErrorsAreInternal() {
    #expect(ExitCodes.code(for: NotABatonError()) == ExitCodes.internalError)
    #expect(ExitCodes.internalError != ExitCodes.checkFailed)
    #expect(ExitCodes.message(for: NotABatonError(), command: GridRunCommand.self)?.hasPrefix("baton grid: internal error") == true)
    #expect(ExitCodes.message(for: LaunchError(.badInput, "no"), command: LaunchCommand.self) == "baton launch: no")
    #expect(ExitCodes.message(for: CommandFailure.jobFailed, command: LaunchCommand.self) == nil)
    // The parser's own errors (help, usage, an explicit exit code) stay the parser's.
    #expect(ExitCodes.isParsers(ValidationError("x")) && ExitCodes.isParsers(ExitCode(7)) && ExitCodes.isParsers(CleanExit.helpRequest()))
    #expect(!ExitCodes.isParsers(NotABatonError()) && !ExitCodes.isParsers(LaunchError(.badInput, "x")))
}

@Test("every module's error maps to the documented exit code")
func everyModulesErrorMapsToTheDocumentedExitCode() {
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

/// The package's root, from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Test("every type the sources make a BatonError is walked above")
func everyErrorTypeIsWalked() throws {
    let sources = packageRoot.appendingPathComponent("Sources").path
    var declared = Set<String>()
    let pattern = try NSRegularExpression(pattern: #"(?:struct|enum|class|extension)\s+(\w+)\s*:[^{]*\bBatonError\b"#)
    for case let file as String in FileManager.default.enumerator(atPath: sources) ?? NSEnumerator() where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: "\(sources)/\(file)", encoding: .utf8)
        for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
            declared.insert(String(text[Range(m.range(at: 1), in: text)!]))
        }
    }
    let walked = Set(errorSamples.map { String(describing: type(of: $0)) })
    #expect(!declared.isEmpty)
    #expect(declared == walked)
}

@Test("the README's table of exit codes is ExitCodes.documented")
func theReadmeTableIsTrue() throws {
    let readme = try String(contentsOf: packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
    let section = try #require(readme.components(separatedBy: "## Exit codes of `baton`").dropFirst().first)
    let table = section.components(separatedBy: "\n## ").first ?? section
    let codes = table.split(separator: "\n").compactMap { line -> Int32? in
        let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        return cells.first.flatMap { Int32($0) }
    }
    #expect(codes == ExitCodes.documented.map(\.code))
}
