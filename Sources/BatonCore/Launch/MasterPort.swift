import BatonExec
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// MASTER_PORT per attempt: a port the kernel calls free, on the attempt's first node's
/// address when that is on this machine (simulated nodes), else on any address here, and
/// never one this head has handed to another attempt still running, so two configs of a
/// grid on one machine never share one. `--master-port` pins it instead.
public enum MasterPort {
    static let handedOut = Locked(Set<Int>())

    /// A free port, reserved until `release`.
    public static func reserve(near address: String?) -> Int {
        for _ in 0..<64 {
            guard let port = freePort(address: address.flatMap(loopbackAddress)) else { break }
            let fresh = handedOut.with { $0.insert(port).inserted }
            if fresh { return port }
        }
        // Nothing from the kernel: fall back to torch's default rather than fail the job.
        return 29500
    }

    public static func release(_ port: Int) {
        _ = handedOut.with { $0.remove(port) }
    }

    /// `address` when it is a loopback IPv4 address (bindable here), else nil (any).
    static func loopbackAddress(_ address: String) -> in_addr? {
        var a = in_addr()
        guard inet_pton(AF_INET, address, &a) == 1, address.hasPrefix("127.") else { return nil }
        return a
    }

    /// Binds a TCP socket to port 0 and reads back the port the kernel chose.
    static func freePort(address: in_addr?) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = 0
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
