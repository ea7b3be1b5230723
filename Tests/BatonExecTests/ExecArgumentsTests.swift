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

@Suite struct ElasticContractTests {
    @Test("the wrapper gives the command torchrun's whole contract, from the arguments the head wrote")
    func torchrunContract() throws {
        var a = ExecArguments()
        (a.runDir, a.nodes, a.attempt, a.runID, a.maxRestarts, a.previousWorld) = ("/r", "n1:2,n2:2,n3:2", 2, "/r", 3, 4)
        a.command = ["true"]
        let parsed = try #require(ExecArguments.parse(a.encode()))
        #expect(parsed == a)
        let o = try parsed.options(environment: ["OMPI_COMM_WORLD_RANK": "3"], currentDirectory: "/")
        let env = o.contract.environment(for: RankPlacement.fromLauncher(["OMPI_COMM_WORLD_RANK": "3"], nodes: o.nodes))
        let expected = [
            "RANK": "3", "WORLD_SIZE": "6", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "GROUP_RANK": "1", "GROUP_WORLD_SIZE": "3",
            "ROLE_NAME": "default", "ROLE_RANK": "3", "ROLE_WORLD_SIZE": "6", "TORCHELASTIC_RESTART_COUNT": "1",
            "TORCHELASTIC_MAX_RESTARTS": "3", "TORCHELASTIC_RUN_ID": "/r", "TORCHELASTIC_USE_AGENT_STORE": "False",
            "BATON_PREVIOUS_WORLD_SIZE": "4", "NNODES": "3", "NODE_RANK": "1",
        ]
        for (k, v) in expected { #expect(env[k] == v, "\(k)") }
    }

    @Test("a first attempt has no previous world, and a grid config (no --max-restarts) no TORCHELASTIC_MAX_RESTARTS")
    func optionalParts() throws {
        let env = JobContract(runDir: "/r").environment(for: RankPlacement(rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1,
                                                                            nodeRank: 0, nodeCount: 1, node: "n"))
        #expect(env["BATON_PREVIOUS_WORLD_SIZE"] == nil)
        #expect(env["TORCHELASTIC_MAX_RESTARTS"] == nil)
        #expect(env["TORCHELASTIC_RUN_ID"] == "/r")
    }
}
