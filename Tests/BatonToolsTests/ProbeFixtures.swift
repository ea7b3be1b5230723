import Foundation
import Testing
@testable import BatonTools

/// Fixture trees and golden files, found from this file's path.
enum ProbeFixtures {
    static let fixturesDir: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").path
    }()

    static let names = ["ib-hdr-two-port", "roce-v2-nic", "eight-gpu-server", "none", "malformed"]

    static func roots(_ name: String) -> ProbeRoots { ProbeRoots(under: "\(fixturesDir)/sysfs/\(name)") }

    /// The probe of a fixture; libibverbs is not asked (it would describe this machine).
    static func report(_ name: String) -> ProbeReport { Prober(roots: roots(name)).run() }

    /// The linked-library string a Debian Open MPI 4.1.4 reports.
    static let libraryVersion = "Open MPI v4.1.4, package: Debian OpenMPI, ident: 4.1.4, repo rev: v4.1.4, May 26, 2022"

    static func doctorContext(_ name: String, mpi: String = "openmpi-4.1.4", environment: [String: String] = [:]) -> DoctorContext {
        var env = environment
        env["PATH"] = env["PATH"] ?? "\(fixturesDir)/bin/\(mpi)"
        env["HOME"] = env["HOME"] ?? "/nonexistent-home"
        return DoctorContext(roots: roots(name), environment: env, runner: ProcessRunner(),
                             mpiLibraryVersion: libraryVersion, hostname: "node01")
    }

    /// Compares `actual` with Tests/Fixtures/expected/<name>. With BATON_UPDATE_GOLDEN=1 in
    /// the environment the file is (re)written instead; review the diff by eye.
    static func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = actual.replacingOccurrences(of: fixturesDir, with: "$FIXTURES")
        let path = "\(fixturesDir)/expected/\(name)"
        if ProcessInfo.processInfo.environment["BATON_UPDATE_GOLDEN"] == "1" {
            try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            Issue.record("golden file \(path) is missing; run with BATON_UPDATE_GOLDEN=1 to write it", sourceLocation: sourceLocation)
            return
        }
        let expected = String(decoding: data, as: UTF8.self)
        if expected != text {
            let a = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let b = text.split(separator: "\n", omittingEmptySubsequences: false)
            let line = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
            let want = line < a.count ? String(a[line]) : "<end>"
            let got = line < b.count ? String(b[line]) : "<end>"
            Issue.record("\(name) differs at line \(line + 1):\n  expected: \(want)\n  actual:   \(got)", sourceLocation: sourceLocation)
        }
    }
}
