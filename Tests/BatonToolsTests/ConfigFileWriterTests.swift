import Foundation
import Testing
@testable import BatonTools

@Suite("ConfigFileWriter")
struct ConfigFileWriterTests {
    /// A fresh directory under the system's temporary directory, removed by `body`'s end.
    func withDirectory(_ body: (String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("baton-config-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }

    func config(_ runtime: ContainerConfigRuntime, _ dir: String) -> ContainerConfig {
        ContainerConfig(report: ProbeFixtures.report("eight-gpu-server"), runtime: runtime,
                        etcFiles: NCCLConfigFiles(roots: ProbeFixtures.roots("eight-gpu-server")), directory: dir)
    }

    func read(_ path: String) -> String? { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } }

    @Test("writes every file under the directory (subdirectories made), then a second run changes nothing")
    func writesThenUnchanged() throws {
        try withDirectory { dir in
            let c = config(.enroot, dir)
            let first = try ConfigFileWriter.write(c, force: false)
            #expect(first.map(\.action) == [.written, .written])
            for file in c.files { #expect(read("\(dir)/\(file.name)") == file.contents) }
            #expect(try ConfigFileWriter.write(c, force: false).map(\.action) == [.unchanged, .unchanged])
            // No temporary file is left beside them.
            let left = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/mounts.d")
            #expect(left == ["50-baton-rdma.fstab"])
        }
    }

    @Test("a file Baton wrote (its mark on the first line) is replaced; one it did not write is refused, and nothing is written")
    func refusesForeignFiles() throws {
        try withDirectory { dir in
            let c = config(.enroot, dir)
            try FileManager.default.createDirectory(atPath: "\(dir)/mounts.d", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(dir)/environ.d", withIntermediateDirectories: true)
            try Data((ConfigFile.mark + " earlier\nOLD=1\n").utf8).write(to: URL(fileURLWithPath: "\(dir)/environ.d/50-baton-nccl.env"))
            try Data("/data /data none bind\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/mounts.d/50-baton-rdma.fstab"))
            #expect(throws: ContainerConfigError.self) { try ConfigFileWriter.write(c, force: false) }
            // Refused as a whole: the file that could be replaced was not touched either.
            #expect(read("\(dir)/environ.d/50-baton-nccl.env")?.contains("OLD=1") == true)
            #expect(read("\(dir)/mounts.d/50-baton-rdma.fstab") == "/data /data none bind\n")
            let forced = try ConfigFileWriter.write(c, force: true)
            #expect(forced.map(\.action) == [.replaced, .replaced])
            #expect(read("\(dir)/mounts.d/50-baton-rdma.fstab") == c.files[0].contents)
        }
    }

    @Test("daemon.json carries no mark: an existing one is replaced only with --force or when it already matches")
    func daemonJSONNeedsForce() throws {
        try withDirectory { dir in
            let c = config(.docker, dir)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("{\"log-driver\": \"journald\"}\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/daemon.json"))
            do {
                _ = try ConfigFileWriter.write(c, force: false)
                Issue.record("an existing daemon.json was replaced without --force")
            } catch let error as ContainerConfigError {
                #expect(error.exitCode == 2 && error.description.contains("\(dir)/daemon.json"))
            }
            #expect(try ConfigFileWriter.write(c, force: true).map(\.action) == [.replaced])
            #expect(try ConfigFileWriter.write(c, force: false).map(\.action) == [.unchanged])
        }
    }

    @Test("a directory where a file should be is an I/O error, not a silent skip")
    func directoryInTheWay() throws {
        try withDirectory { dir in
            let c = config(.podman, dir)
            try FileManager.default.createDirectory(atPath: "\(dir)/50-baton-rdma.conf", withIntermediateDirectories: true)
            do {
                _ = try ConfigFileWriter.write(c, force: true)
                Issue.record("wrote over a directory")
            } catch let error as ContainerConfigError {
                #expect(error.exitCode == 74)
            }
        }
    }
}
