import BatonSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// MASTER_PORT per attempt: a port the kernel calls free, on the attempt's first node's
/// address when that is on this machine (simulated nodes), else on any address here, and
/// never one this head has handed to another attempt still running, so two configs of a
/// grid on one machine never share one. `--master-port` pins it instead.
///
/// The port is taken below the kernel's ephemeral range (`ip_local_port_range`, 32768 by
/// default): between this check and rank 0's bind, a port from that range can be taken as
/// the source port of any outgoing connection on the machine (the ranks', mpirun's, other
/// jobs'), and rank 0 then fails with EADDRINUSE. Seen once in 53 under load, with the
/// port the kernel picked for bind(0). Below the range only another explicit bind can take
/// it. bind(0) is the fallback when nothing below the range is free.
enum MasterPort {
    static let handedOut = Locked(Set<Int>())
    /// The lowest port tried: above the well-known and most registered service ports.
    static let lowest = 20000

    /// A free port, reserved until `release`.
    static func reserve(near address: String?) -> Int {
        let bindAddress = address.flatMap(loopbackAddress)
        let top = ephemeralStart() - 1
        if top > lowest {
            let span = top - lowest + 1
            let start = Int.random(in: 0..<span)
            for i in 0..<min(span, 256) {
                let port = lowest + (start + i * 7919) % span   // 7919 is prime: a spread walk
                guard bindable(port: port, address: bindAddress) else { continue }
                if handedOut.with({ $0.insert(port).inserted }) { return port }
            }
        }
        for _ in 0..<64 {
            guard let port = freePort(address: bindAddress) else { break }
            let fresh = handedOut.with { $0.insert(port).inserted }
            if fresh { return port }
        }
        // Nothing from the kernel: fall back to torch's default rather than fail the job.
        return 29500
    }

    static func release(_ port: Int) {
        _ = handedOut.with { $0.remove(port) }
    }

    /// `address` when it is a loopback IPv4 address (bindable here), else nil (any).
    static func loopbackAddress(_ address: String) -> in_addr? {
        var a = in_addr()
        guard inet_pton(AF_INET, address, &a) == 1, address.hasPrefix("127.") else { return nil }
        return a
    }

    /// The first port of the kernel's ephemeral range (32768 when it cannot be read).
    static func ephemeralStart() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
              let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first,
              let value = Int(first) else { return 32768 }
        return value
    }

    /// Whether a TCP socket binds to `port` (on `address`, else any address) right now.
    static func bindable(port: Int, address: in_addr?) -> Bool {
        freePort(address: address, port: port) == port
    }

    /// Binds a TCP socket to `port` (0: the kernel chooses) and reads back the port bound.
    static func freePort(address: in_addr?, port: Int = 0) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port)).bigEndian
        sa.sin_addr = address ?? in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return nil }
        var out = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let got = withUnsafeMutablePointer(to: &out) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard got == 0 else { return nil }
        return Int(UInt16(bigEndian: out.sin_port))
    }
}
