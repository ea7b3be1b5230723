import CIBVerbs

/// A 128-bit global identifier (an IPv6-format address) from a port's GID table.
public struct GID: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes in network order.
    public let bytes: [UInt8]

    /// Makes a GID from 16 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses the sysfs form: 8 groups of 4 hex digits separated by colons, never
    /// compressed (`fe80:0000:0000:0000:0e42:a1ff:fe9a:6766`).
    public init?(sysfs text: String) {
        let groups = text.split(separator: ":", omittingEmptySubsequences: false)
        guard groups.count == 8 else { return nil }
        var bytes: [UInt8] = []
        for group in groups {
            guard group.count == 4, let value = UInt16(group, radix: 16) else { return nil }
            bytes.append(UInt8(value >> 8))
            bytes.append(UInt8(value & 0xff))
        }
        self.bytes = bytes
    }

    init(_ gid: ibv_gid) {
        bytes = withUnsafeBytes(of: gid.raw) { Array($0) }
    }

    /// True for an unused table entry (all zeros).
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    /// True for a link-local entry (fe80::/10), derived from a MAC or port GUID.
    public var isLinkLocal: Bool { bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80 }

    /// The IPv4 address when this is an IPv4-mapped GID (`::ffff:a.b.c.d`), as RoCE uses
    /// for IPv4 addresses.
    public var ipv4: String? {
        guard bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return bytes[12...].map(String.init).joined(separator: ".")
    }

    /// The sysfs form (8 groups of 4 lower-case hex digits).
    public var description: String {
        stride(from: 0, to: 16, by: 2).map { i in
            let value = UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 4 - hex.count) + hex
        }.joined(separator: ":")
    }
}

/// The protocol a GID entry is used with.
public enum GIDType: Sendable, Hashable, CustomStringConvertible {
    /// InfiniBand, or RoCE v1 (sysfs prints both as "IB/RoCE v1").
    case ibOrRoCEv1
    case roceV2
    case unknown(UInt32)

    init(raw: UInt32) {
        switch raw {
        case UInt32(IBV_GID_TYPE_IB.rawValue), UInt32(IBV_GID_TYPE_ROCE_V1.rawValue): self = .ibOrRoCEv1
        case UInt32(IBV_GID_TYPE_ROCE_V2.rawValue): self = .roceV2
        default: self = .unknown(raw)
        }
    }

    /// Parses sysfs `gid_attrs/types/N` ("IB/RoCE v1" or "RoCE v2").
    public init?(sysfs text: String) {
        switch text {
        case "IB/RoCE v1": self = .ibOrRoCEv1
        case "RoCE v2": self = .roceV2
        default: return nil
        }
    }

    /// The sysfs spelling.
    public var description: String {
        switch self {
        case .ibOrRoCEv1: return "IB/RoCE v1"
        case .roceV2: return "RoCE v2"
        case .unknown(let raw): return "unknown (\(raw))"
        }
    }
}

/// One GID table entry with its attributes (`struct ibv_gid_entry`).
public struct GIDEntry: Sendable, Hashable {
    public let gid: GID
    public let index: Int
    public let port: Int
    public let type: GIDType
    /// The ifindex of the network device the entry belongs to (RoCE), if any.
    public let netdevIndex: Int?
}
