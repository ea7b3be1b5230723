@testable import BatonExec
import Testing

@Suite struct ProgressKeyTests {
    @Test("--progress-key reads an integer (or a whole float) of a metrics line, and nothing from other keys")
    func integerOfKey() {
        #expect(ExecWrapper.integer("step", inJSON: #"{"loss": 0.3, "step": 12}"#) == 12)
        #expect(ExecWrapper.integer("step", inJSON: #"{"step":1.2e2}"#) == 120)
        #expect(ExecWrapper.integer("step", inJSON: #"{"steps": 4}"#) == nil)
        #expect(ExecWrapper.integer("step", inJSON: #"{"step": "x"}"#) == nil)
    }
}
