import BatonSupport
/// Renders results as a table (default), JSON or CSV. Units: sizes in bytes, times in
/// microseconds, bandwidth in GB/s with GB = 1e9 bytes (nccl-tests' and Baton's unit).
public enum BenchReport {
    // MARK: point-to-point

    static func headline(_ result: PointToPointResult) -> String {
        switch result.test {
        case .latency:
            return "baton bench latency: ranks 0 and 1 of \(result.ranks), blocking ping-pong, latency = half round trip (OSU method)"
        case .bandwidth:
            return "baton bench bw: rank 0 to rank 1 of \(result.ranks), window of \(result.window) MPI_Isend then an ack (OSU method)"
        case .bidirectional:
            return "baton bench bibw: ranks 0 and 1 of \(result.ranks) both ways at once, window of \(result.window) (OSU method)"
        }
    }

    public static func table(_ result: PointToPointResult) -> String {
        var lines = ["# " + headline(result)]
        let isLatency = result.test == .latency
        lines.append("# " + pad("size (B)", 12) + pad("size", 10) + pad(isLatency ? "latency (us)" : "bandwidth (GB/s)", 18) + pad("iterations", 12))
        for row in result.rows {
            let value = isLatency ? formatFixed(row.latencyMicroseconds ?? 0, decimals: 2) : formatFixed(row.bandwidthGBps ?? 0, decimals: 3)
            lines.append("  " + pad(String(row.sizeBytes), 12) + pad(MessageSizes.label(row.sizeBytes), 10) + pad(value, 18) + pad(String(row.iterations), 12))
        }
        lines.append("# GB/s = 1e9 bytes per second; us = microseconds")
        return lines.joined(separator: "\n")
    }

    public static func json(_ result: PointToPointResult) -> String {
        let isLatency = result.test == .latency
        let rows: [BenchJSON] = result.rows.map { row in
            var fields: [(String, BenchJSON)] = [("size_bytes", .int(row.sizeBytes))]
            if isLatency {
                fields.append(("latency_us", .double(row.latencyMicroseconds ?? 0)))
            } else {
                fields.append(("bandwidth_GBps", .double(row.bandwidthGBps ?? 0)))
            }
            fields.append(("iterations", .int(row.iterations)))
            return .object(fields)
        }
        var fields: [(String, BenchJSON)] = [
            ("suite", .string(result.test.rawValue)),
            ("ranks", .int(result.ranks)),
            ("method", .string(isLatency ? "osu_latency: half round trip" : "osu_\(result.test.rawValue): window then ack")),
        ]
        if !isLatency { fields.append(("window", .int(result.window))) }
        fields.append(("units", .object([("size", .string("bytes")), (isLatency ? "latency" : "bandwidth", .string(isLatency ? "microseconds" : "GB/s, 1 GB = 1e9 bytes"))])))
        fields.append(("rows", .array(rows)))
        return BenchJSON.object(fields).renderedRows()
    }

    public static func csv(_ result: PointToPointResult) -> String {
        let isLatency = result.test == .latency
        var lines = [isLatency ? "size_bytes,latency_us,iterations" : "size_bytes,bandwidth_GBps,iterations"]
        for row in result.rows {
            let value = isLatency ? row.latencyMicroseconds ?? 0 : row.bandwidthGBps ?? 0
            lines.append("\(row.sizeBytes),\(BenchJSON.double(value).rendered(pretty: false)),\(row.iterations)")
        }
        return lines.joined(separator: "\n")
    }

    // MARK: collectives

    public static func table(_ result: CollectiveResult) -> String {
        let factor = result.kind.busBandwidthFactor(ranks: result.ranks)
        let data = result.kind == .barrier ? "" : (result.kind == .allreduce || result.kind == .reducescatter ? ", float32 sum" : ", float32")
        var lines = ["# baton bench \(result.kind.rawValue): \(result.ranks) ranks\(data); time per call: each rank's mean, min/avg/max over ranks"]
        if result.kind != .barrier {
            lines.append("# algbw = bytes / avg time; busbw = algbw x \(formatFixed(factor, decimals: 3)) (nccl-tests factor for \(result.ranks) ranks)")
        }
        lines += [
            "# " + pad("size (B)", 11) + pad("count", 9) + pad("placement", 11) + pad("min (us)", 10) + pad("avg (us)", 10)
                + pad("max (us)", 10) + pad("algbw", 9) + pad("busbw", 9) + pad("#wrong", 7),
        ]
        for row in result.rows {
            let placement = result.kind == .barrier ? "-" : (row.inPlace ? "in-place" : "out-place")
            lines.append(
                "  " + pad(String(row.sizeBytes), 11) + pad(String(row.count), 9) + pad(placement, 11)
                    + pad(formatFixed(row.timeMinMicroseconds, decimals: 2), 10) + pad(formatFixed(row.timeMicroseconds, decimals: 2), 10)
                    + pad(formatFixed(row.timeMaxMicroseconds, decimals: 2), 10) + pad(formatFixed(row.algorithmBandwidthGBps, decimals: 3), 9)
                    + pad(formatFixed(row.busBandwidthGBps, decimals: 3), 9) + pad(String(row.wrong), 7))
        }
        lines.append("# Out of bounds values : \(result.totalWrong) \(result.totalWrong == 0 ? "OK" : "WRONG")")
        if result.kind != .barrier {
            lines.append("# Avg bus bandwidth    : \(formatFixed(result.averageBusBandwidthGBps, decimals: 3)) GB/s (1 GB = 1e9 bytes)")
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ result: CollectiveResult) -> String {
        let rows: [BenchJSON] = result.rows.map { row in
            .object([
                ("size_bytes", .int(row.sizeBytes)),
                ("count", .int(row.count)),
                ("in_place", .bool(row.inPlace)),
                ("iterations", .int(row.iterations)),
                ("time_us", .double(row.timeMicroseconds)),
                ("time_min_us", .double(row.timeMinMicroseconds)),
                ("time_max_us", .double(row.timeMaxMicroseconds)),
                ("algbw_GBps", .double(row.algorithmBandwidthGBps)),
                ("busbw_GBps", .double(row.busBandwidthGBps)),
                ("wrong", .int(row.wrong)),
            ])
        }
        return BenchJSON.object([
            ("suite", .string(result.kind.rawValue)),
            ("ranks", .int(result.ranks)),
            ("datatype", .string("float32")),
            ("op", .string(result.kind == .allreduce || result.kind == .reducescatter ? "sum" : "none")),
            ("busbw_factor", .double(result.kind.busBandwidthFactor(ranks: result.ranks))),
            ("units", .object([("size", .string("bytes")), ("time", .string("microseconds per call")), ("bandwidth", .string("GB/s, 1 GB = 1e9 bytes"))])),
            ("rows", .array(rows)),
            ("avg_busbw_GBps", .double(result.averageBusBandwidthGBps)),
            ("wrong", .int(result.totalWrong)),
        ]).renderedRows()
    }

    public static func csv(_ result: CollectiveResult) -> String {
        var lines = ["size_bytes,count,in_place,iterations,time_us,time_min_us,time_max_us,algbw_GBps,busbw_GBps,wrong"]
        for row in result.rows {
            let numbers = [row.timeMicroseconds, row.timeMinMicroseconds, row.timeMaxMicroseconds, row.algorithmBandwidthGBps, row.busBandwidthGBps]
                .map { BenchJSON.double($0).rendered(pretty: false) }
            lines.append(([String(row.sizeBytes), String(row.count), String(row.inPlace), String(row.iterations)] + numbers + [String(row.wrong)]).joined(separator: ","))
        }
        return lines.joined(separator: "\n")
    }

    /// Right-aligns `text` in a column of `width` characters.
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : String(repeating: " ", count: width - text.count) + text
    }
}

/// The acceptance gate: nccl-tests fails a run whose average bus bandwidth is under
/// `NCCL_TESTS_MIN_BW`, and any run with wrong elements.
public struct BenchGate: Sendable, Equatable {
    var minimumBusBandwidthGBps: Double?

    public init(minimumBusBandwidthGBps: Double?) { self.minimumBusBandwidthGBps = minimumBusBandwidthGBps }

    /// The reasons the result fails, empty when it passes.
    public func failures(_ result: CollectiveResult) -> [String] {
        var reasons: [String] = []
        if result.totalWrong > 0 {
            reasons.append("\(result.totalWrong) wrong elements (summed over ranks and sizes): the collective returned bad data")
        }
        if let minimum = minimumBusBandwidthGBps, result.averageBusBandwidthGBps < minimum {
            reasons.append(
                "average bus bandwidth \(formatFixed(result.averageBusBandwidthGBps, decimals: 3)) GB/s is under --min-busbw \(formatFixed(minimum, decimals: 3)) GB/s")
        }
        return reasons
    }
}
