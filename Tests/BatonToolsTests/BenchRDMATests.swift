import Testing
@testable import BatonTools

@Suite struct BenchRDMATests {
    let info = QueuePairInfo(
        lid: 0x0004, queuePairNumber: 0xA1B2C3, packetSequenceNumber: 0x3C4D5E, remoteKey: 0x0001_2345,
        address: 0x7F12_3456_7800, length: 65536, gid: [0xfe, 0x80] + [UInt8](repeating: 0, count: 6) + [0x0e, 0x42, 0xa1, 0xff, 0xfe, 0x9a, 0x67, 0x66])

    @Test func queuePairInfoRoundTripsThroughItsEncoding() throws {
        let bytes = try info.encoded()
        #expect(bytes.count == QueuePairInfo.encodedSize)
        #expect(try QueuePairInfo(decoding: bytes) == info)
    }

    @Test func queuePairInfoIsLittleEndianAtFixedOffsets() throws {
        let bytes = try info.encoded()
        #expect(Array(bytes[0..<4]) == Array("BQP1".utf8))
        #expect(Array(bytes[4..<6]) == [0x04, 0x00])
        #expect(Array(bytes[8..<12]) == [0xC3, 0xB2, 0xA1, 0x00])
        #expect(Array(bytes[40..<42]) == [0xfe, 0x80])
    }

    @Test func queuePairNumbersOver24BitsAreRefused() {
        var bad = info
        bad.queuePairNumber = 0x100_0000
        #expect(throws: BenchError.self) { try bad.encoded() }
    }

    @Test func truncatedOrForeignPeerInfoIsRefused() throws {
        let bytes = try info.encoded()
        #expect(throws: BenchError.self) { try QueuePairInfo(decoding: Array(bytes.dropLast())) }
        var foreign = bytes
        foreign[0] = 0x58
        #expect(throws: BenchError.self) { try QueuePairInfo(decoding: foreign) }
    }

    @Test func queuePairInfoPrintsLikePerftest() {
        #expect(info.description.hasPrefix("LID 0x0004 QPN 0xa1b2c3 PSN 0x3c4d5e RKey 0x00012345"))
        #expect(info.description.hasSuffix("GID fe80:0000:0000:0000:0e42:a1ff:fe9a:6766"))
    }

    @Test func allSizesArePerftestsTwoBytesToEightMiB() throws {
        let sizes = try RDMASizes.schedule(all: true, size: nil, maximum: nil, latency: false)
        #expect(sizes.first == 2 && sizes.last == 8 << 20 && sizes.count == 23)
        #expect(try RDMASizes.schedule(all: true, size: nil, maximum: 64, latency: false) == [2, 4, 8, 16, 32, 64])
        #expect(try RDMASizes.schedule(all: false, size: nil, maximum: nil, latency: false) == [65536])
        #expect(try RDMASizes.schedule(all: false, size: nil, maximum: nil, latency: true) == [2])
    }

    @Test func bandwidthInPerftestsUnits() {
        // 1000 messages of 1 MiB in 0.1 s: 10000 MiB/s, 83.886 Gb/s, 0.01 Mpps.
        let bw = RDMABandwidth(sizeBytes: 1 << 20, iterations: 1000, seconds: 0.1)
        #expect(abs(bw.mebibytesPerSecond - 10000) < 1e-6)
        #expect(abs(bw.gigabitsPerSecond - 83.886_08) < 1e-6)
        #expect(abs(bw.messageRateMpps - 0.01) < 1e-12)
    }

    @Test func writeLatencyIsHalfTheRoundTripReadIsNot() {
        let trips = [2e-6, 4e-6, 6e-6, 8e-6]
        let write = RDMALatency(sizeBytes: 2, roundTrips: trips, halve: RDMAOperation.write.halvesRoundTrip)
        #expect(write.minimum == 1 && write.maximum == 4)
        #expect(write.typical == 2.5 && write.average == 2.5)
        let read = RDMALatency(sizeBytes: 2, roundTrips: trips, halve: RDMAOperation.read.halvesRoundTrip)
        #expect(read.typical == 5)
    }

    @Test func latencyPercentilesIndexTheSortedSamples() {
        let trips = (1...1000).map { Double($0) * 1e-6 }.shuffled()
        let lat = RDMALatency(sizeBytes: 2, roundTrips: trips, halve: false)
        #expect(abs(lat.percentile99 - 991) < 1e-6)
        #expect(abs(lat.percentile999 - 1000) < 1e-6)
        #expect(abs(lat.standardDeviation - 288.6749) < 1e-3)
    }
}

@Suite struct BenchRDMAPortChoiceTests {
    func report(_ devices: [RDMADevice], verbs: VerbsStatus = .devices(["mlx5_0"])) -> ProbeReport {
        ProbeReport(devices: devices, deviceNodes: [], limits: ResourceLimits(memlockBytes: nil, shmBytes: nil), verbs: verbs, problems: [])
    }

    func device(_ name: String, ports: [(Int, Int, String)], seen: Bool? = true) -> RDMADevice {
        var d = RDMADevice(name: name)
        d.seenByVerbs = seen
        d.uverbs = "uverbs0"
        d.ports = ports.map { number, code, state in
            var p = RDMAPort(number: number)
            p.stateCode = code
            p.state = state
            return p
        }
        return d
    }

    @Test func noDeviceSaysWhatSysfsAndVerbsFound() {
        let choice = RDMABench.choosePort(report([], verbs: .noDevices("ENOSYS")), device: nil, port: nil)
        guard case .unavailable(let why) = choice else { Issue.record("expected unavailable"); return }
        #expect(why.contains("sysfs lists none") && why.contains("ENOSYS"))
    }

    @Test func firstActivePortIsChosen() {
        let r = report([device("mlx5_0", ports: [(1, 1, "DOWN")]), device("mlx5_1", ports: [(1, 4, "ACTIVE")])])
        #expect(RDMABench.choosePort(r, device: nil, port: nil) == .ready(device: "mlx5_1", port: 1))
    }

    @Test func onlyDownPortsAreNamedWithTheirState() {
        let r = report([device("mlx5_0", ports: [(1, 1, "DOWN")])])
        guard case .unavailable(let why) = RDMABench.choosePort(r, device: nil, port: nil) else { Issue.record("expected unavailable"); return }
        #expect(why.contains("mlx5_0 port 1 is DOWN"))
    }

    @Test func deviceHiddenFromVerbsPointsAtTheDeviceNode() {
        let r = report([device("mlx5_0", ports: [(1, 4, "ACTIVE")], seen: false)])
        guard case .unavailable(let why) = RDMABench.choosePort(r, device: nil, port: nil) else { Issue.record("expected unavailable"); return }
        #expect(why.contains("/dev/infiniband/uverbs0"))
    }

    @Test func unknownDeviceNameListsTheOnesThere() {
        let r = report([device("mlx5_0", ports: [(1, 4, "ACTIVE")])])
        guard case .unavailable(let why) = RDMABench.choosePort(r, device: "mlx5_9", port: nil) else { Issue.record("expected unavailable"); return }
        #expect(why.contains("mlx5_9") && why.contains("mlx5_0"))
    }
}
