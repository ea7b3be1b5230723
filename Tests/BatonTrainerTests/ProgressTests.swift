@testable import BatonTrainer
import Foundation
import Testing

@Suite struct ProgressTests {
    @Test("step and phase write their marks on BATON_PROGRESS_FD, after an armed line")
    func marks() throws {
        var p: [Int32] = [0, 0]
        #expect(pipe(&p) == 0)
        setenv("BATON_PROGRESS_FD", String(p[1]), 1)
        defer { unsetenv("BATON_PROGRESS_FD") }
        Progress.step(5)
        Progress.step()
        let v = Progress.phase("eval") { 42 }
        #expect(v == 42)
        close(p[1])
        var data = [UInt8](repeating: 0, count: 4096)
        let n = read(p[0], &data, data.count)
        close(p[0])
        let lines = String(decoding: data[0..<max(n, 0)], as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines == ["armed \(getpid())", "step 5", "step 6", "phase eval", "phase -"])
    }
}
