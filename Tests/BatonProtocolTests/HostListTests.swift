import Testing
@testable import BatonProtocol

@Suite struct HostListTests {
    @Test func hostfileWithCommentsBlankLinesAndSlotsIsRead() throws {
        let text = """
            # training nodes
            node-a slots=4

            node-b slots=2 max_slots=8   # trailing comment
            node-c
            """
        let list = try HostList.parseHostfile(text, source: "hosts")
        #expect(list.hosts == [BatonProtocol.Host(name: "node-a", slots: 4), BatonProtocol.Host(name: "node-b", slots: 2), BatonProtocol.Host(name: "node-c", slots: 1)])
        #expect(list.totalSlots == 7)
    }

    @Test func unknownSyntaxNamesFileLineAndColumn() {
        #expect(throws: HostListError(source: "hf", line: 2, column: 8, message: "unknown syntax 'cpus': expected key=value (slots=N or max_slots=M)")) {
            try HostList.parseHostfile("a slots=1\nnode-b cpus", source: "hf")
        }
        #expect(throws: HostListError.self) { try HostList.parseHostfile("a gpus=2", source: "hf") }
    }

    @Test func zeroSlotsIsRefusedAtTheValue() throws {
        do {
            _ = try HostList.parseHostfile("a slots=0", source: "hf")
            Issue.record("slots=0 accepted")
        } catch {
            #expect(error.line == 1 && error.column == 9)
            #expect(error.description.hasPrefix("hf:1:9: slots=0"))
        }
    }

    @Test func duplicateHostNamesBothLines() throws {
        do {
            _ = try HostList.parseHostfile("a slots=2\n\n  a slots=1", source: "hf")
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.line == 3 && error.column == 3)
            #expect(error.message.contains("first on line 1"))
        }
    }

    @Test func emptyOrCommentOnlyFileIsAnError() {
        #expect(throws: HostListError.self) { try HostList.parseHostfile("", source: "hf") }
        #expect(throws: HostListError.self) { try HostList.parseHostfile("# nothing\n\n", source: "hf") }
    }

    @Test(arguments: ["a;rm -rf /", "a$(x)", "a`x`", "a|b", "a&b", "'a'", "a\"b", "a>b", "-oProxy"])
    func shellMetacharactersInNamesAreRefused(name: String) throws {
        do {
            _ = try HostList.parseHostfile("ok slots=1\n\(name) slots=1", source: "hf")
            Issue.record("\(name) accepted")
        } catch {
            #expect(error.line == 2)
            #expect(error.column >= 1)
        }
    }

    @Test func metacharacterColumnPointsAtTheCharacter() throws {
        do {
            _ = try HostList.parseHostfile("  ab;c slots=1", source: "hf")
            Issue.record("accepted")
        } catch {
            #expect(error.column == 5)
        }
    }

    @Test func hostSpecParsesSlotsAndDefaultsToOne() throws {
        let list = try HostList.parseHostSpec("h1:2,h2,h3:4")
        #expect(list.hosts == [BatonProtocol.Host(name: "h1", slots: 2), BatonProtocol.Host(name: "h2", slots: 1), BatonProtocol.Host(name: "h3", slots: 4)])
    }

    @Test func hostSpecErrorsGiveColumns() throws {
        do { _ = try HostList.parseHostSpec("h1:2,h2:0"); Issue.record("accepted") } catch { #expect(error.column == 9) }
        do { _ = try HostList.parseHostSpec("h1:2,,h3"); Issue.record("accepted") } catch { #expect(error.column == 6) }
        do { _ = try HostList.parseHostSpec("h1,h1"); Issue.record("accepted") } catch { #expect(error.column == 4) }
    }

    @Test func slurmNodelistExpandsRangesKeepingZeroPadding() throws {
        let list = try HostList.parseSlurmNodelist("node[01-03,07],gpu-a[1-2],login", slots: 2)
        #expect(list.names == ["node01", "node02", "node03", "node07", "gpu-a1", "gpu-a2", "login"])
        #expect(list.hosts.allSatisfy { $0.slots == 2 })
    }

    @Test func slurmNodelistErrors() {
        #expect(throws: HostListError.self) { try HostList.parseSlurmNodelist("node[3-1]") }
        #expect(throws: HostListError.self) { try HostList.parseSlurmNodelist("node[1-2") }
        #expect(throws: HostListError.self) { try HostList.parseSlurmNodelist("node[1,1]") }
    }

    @Test func localListAndRemovingKeepOrder() {
        let list = HostList.local(count: 3).withSlots(2)
        #expect(list.names == ["local-0", "local-1", "local-2"])
        #expect(list.removing(["local-1"]).names == ["local-0", "local-2"])
        #expect(list.totalSlots == 6)
    }
}
