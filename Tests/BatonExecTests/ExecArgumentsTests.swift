import Testing
@testable import BatonExec
@testable import BatonProtocol

@Suite struct ExecArgumentsTests {
    @Test func bothOptionFormsAndRepeatedEnvParseAndAnythingElseIsLeftToBatonExec() throws {
        #expect(ExecArguments.parse(["--run-dir=/x", "--", "true"])?.runDir == "/x")
        #expect(ExecArguments.parse(["--env", "A=1", "--env=B=2", "--", "true"])?.env == ["A=1", "B=2"])
        let withEnv = try #require(ExecArguments.parse(["--env", "A=x=y", "--", "true"])).options(environment: [:], currentDirectory: "/")
        #expect(withEnv.extraEnvironment == ["A": "x=y"])
        #expect(ExecArguments.parse(["--help"]) == nil)
        #expect(ExecArguments.parse(["--bogus", "1", "--", "true"]) == nil)
        #expect(ExecArguments.parse(["--attempt", "two", "--", "true"]) == nil)
        #expect(ExecArguments.parse(["--run-dir", "/x"]) == nil)
        #expect(throws: ExecArguments.Invalid.self) { try ExecArguments.parse(["--heartbeat", "zz", "--", "true"])!.options(environment: [:], currentDirectory: "/") }
    }
}
