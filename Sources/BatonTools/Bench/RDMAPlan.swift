/// perftest's conventions for `baton bench rdma`: operations, message sizes, the
/// out-of-band queue-pair information and the arithmetic behind its figures.
public enum RDMAOperation: String, Sendable, CaseIterable {
    case write, read, send

    /// perftest halves the round trip for write and send latency (ping-pong), but not
    /// for read, whose one operation already is a round trip (ib_read_lat).
    var halvesRoundTrip: Bool { self != .read }
}

public enum RDMASizes {
    /// perftest's `-a`: every power of two from 2 B to 8 MiB (2^1 ... 2^23).
    static let all: [Int] = (1...23).map { 1 << $0 }
    /// perftest's default message for bandwidth tests.
    static let defaultBandwidthSize = 65536
    /// perftest's default message for latency tests.
    static let defaultLatencySize = 2
    /// perftest's default send-queue depth (`--tx-depth`) for bandwidth tests.
    public static let defaultTxDepth = 128

    /// The sizes to run: all of perftest's `-a`, clipped to `maximum`; or one size.
    public static func schedule(all: Bool, size: Int?, maximum: Int?, latency: Bool) throws(BenchError) -> [Int] {
        if all {
            let clipped = RDMASizes.all.filter { $0 <= (maximum ?? Int.max) }
            guard !clipped.isEmpty else { throw BenchError(.badOption, "--max-size is under 2 B, the smallest size perftest's -a runs") }
            return clipped
        }
        let one = size ?? (latency ? defaultLatencySize : defaultBandwidthSize)
        guard one >= 1 else { throw BenchError(.badOption, "--size must be at least 1 byte, got \(one)") }
        guard one <= 1 << 30 else { throw BenchError(.badOption, "--size \(one) is over 1 GiB") }
        return [one]
    }
}

/// What one side of a reliable-connected queue pair tells the other before the
/// connection can be brought up (perftest's `pingpong_dest`: LID, QPN, PSN, rkey,
/// address, GID), here with the buffer length too. Exchanged over MPI as 56 bytes.
struct QueuePairInfo: Sendable, Equatable, CustomStringConvertible {
    var lid: UInt16
    /// Queue pair number: 24 bits.
    var queuePairNumber: UInt32
    /// Initial packet sequence number: 24 bits.
    var packetSequenceNumber: UInt32
    var remoteKey: UInt32
    var address: UInt64
    var length: UInt64
    /// The port GID (16 bytes); all zeros on InfiniBand without a global route.
    var gid: [UInt8]

    init(lid: UInt16, queuePairNumber: UInt32, packetSequenceNumber: UInt32, remoteKey: UInt32, address: UInt64, length: UInt64, gid: [UInt8]) {
        self.lid = lid
        self.queuePairNumber = queuePairNumber
        self.packetSequenceNumber = packetSequenceNumber
        self.remoteKey = remoteKey
        self.address = address
        self.length = length
        self.gid = gid
    }

    static let encodedSize = 56
    static let magic: [UInt8] = Array("BQP1".utf8)

    /// Little-endian layout: magic "BQP1", lid u16, 2 reserved, qpn u32, psn u32,
    /// rkey u32, 4 reserved, address u64, length u64, gid 16 bytes.
    func encoded() throws(BenchError) -> [UInt8] {
        guard queuePairNumber <= 0xFF_FFFF, packetSequenceNumber <= 0xFF_FFFF else {
            throw BenchError(.badOption, "queue pair number and PSN are 24-bit values; got \(queuePairNumber), \(packetSequenceNumber)")
        }
        guard gid.count == 16 else { throw BenchError(.badOption, "a GID has 16 bytes, got \(gid.count)") }
        var out = Self.magic
        out += Self.bytes(UInt64(lid), 2) + [0, 0]
        out += Self.bytes(UInt64(queuePairNumber), 4) + Self.bytes(UInt64(packetSequenceNumber), 4)
        out += Self.bytes(UInt64(remoteKey), 4) + [0, 0, 0, 0]
        out += Self.bytes(address, 8) + Self.bytes(length, 8) + gid
        return out
    }

    init(decoding bytes: [UInt8]) throws(BenchError) {
        guard bytes.count == Self.encodedSize else {
            throw BenchError(.callFailed, "queue pair information from the peer has \(bytes.count) bytes, expected \(Self.encodedSize)")
        }
        guard Array(bytes[0..<4]) == Self.magic else {
            throw BenchError(.callFailed, "queue pair information from the peer does not start with BQP1: the peer runs another baton version")
        }
        func value(_ offset: Int, _ count: Int) -> UInt64 {
            (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
        }
        lid = UInt16(value(4, 2))
        queuePairNumber = UInt32(value(8, 4))
        packetSequenceNumber = UInt32(value(12, 4))
        remoteKey = UInt32(value(16, 4))
        address = value(24, 8)
        length = value(32, 8)
        gid = Array(bytes[40..<56])
        guard queuePairNumber <= 0xFF_FFFF, packetSequenceNumber <= 0xFF_FFFF else {
            throw BenchError(.callFailed, "queue pair information from the peer has a QPN or PSN over 24 bits")
        }
    }

    static func bytes(_ value: UInt64, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// perftest's printout: `LID 0x0004 QPN 0x00a1b2 PSN 0x3c4d5e RKey 0x00012345 VAddr 0x...`.
    var description: String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let gidText = stride(from: 0, to: 16, by: 2).map { i in
            let s = String(UInt16(gid[i]) << 8 | UInt16(gid[i + 1]), radix: 16)
            return String(repeating: "0", count: 4 - s.count) + s
        }.joined(separator: ":")
        return "LID \(hex(UInt64(lid), 4)) QPN \(hex(UInt64(queuePairNumber), 6)) PSN \(hex(UInt64(packetSequenceNumber), 6)) "
            + "RKey \(hex(UInt64(remoteKey), 8)) VAddr \(hex(address, 16)) GID \(gidText)"
    }
}

/// perftest's bandwidth figures for `iterations` messages of `size` bytes in `seconds`.
struct RDMABandwidth: Sendable, Equatable {
    var sizeBytes: Int
    var iterations: Int
    /// MiB/s (2^20 bytes), perftest's default unit ("BW average[MB/sec]").
    var mebibytesPerSecond: Double
    /// Gb/s (1e9 bits), perftest's `--report_gbits`.
    var gigabitsPerSecond: Double
    /// Million messages per second ("MsgRate[Mpps]").
    var messageRateMpps: Double

    init(sizeBytes: Int, iterations: Int, seconds: Double) {
        self.sizeBytes = sizeBytes
        self.iterations = iterations
        let bytes = Double(sizeBytes) * Double(iterations)
        let s = seconds > 0 ? seconds : .infinity
        mebibytesPerSecond = bytes / s / 1_048_576
        gigabitsPerSecond = bytes * 8 / s / 1e9
        messageRateMpps = Double(iterations) / s / 1e6
    }
}

/// perftest's latency summary in microseconds, from per-iteration samples.
public struct RDMALatency: Sendable, Equatable {
    var sizeBytes: Int
    var iterations: Int
    var minimum: Double
    var maximum: Double
    /// The median, which perftest calls "typical".
    var typical: Double
    var average: Double
    var standardDeviation: Double
    var percentile99: Double
    var percentile999: Double

    /// `roundTrips` are seconds per iteration; halved for write and send (ping-pong),
    /// as perftest does, not for read.
    init(sizeBytes: Int, roundTrips: [Double], halve: Bool) {
        let scale = (halve ? 0.5 : 1.0) * 1e6
        let sorted = roundTrips.map { $0 * scale }.sorted()
        self.sizeBytes = sizeBytes
        iterations = sorted.count
        guard !sorted.isEmpty else {
            minimum = 0; maximum = 0; typical = 0; average = 0; standardDeviation = 0; percentile99 = 0; percentile999 = 0
            return
        }
        minimum = sorted.first!
        maximum = sorted.last!
        typical = PairMatrix.median(sorted) ?? 0
        let mean = sorted.reduce(0, +) / Double(sorted.count)
        average = mean
        standardDeviation = (sorted.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(sorted.count)).squareRoot()
        // perftest indexes the sorted samples at iters x 0.99 (and 0.999).
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        percentile99 = percentile(0.99)
        percentile999 = percentile(0.999)
    }
}
