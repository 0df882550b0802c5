#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address held as 128 bits; IPv4 is kept in its IPv4-mapped
/// IPv6 form (::ffff:a.b.c.d), so a mapped address and the plain IPv4 address
/// are the same value and match the same rules.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public let hi: UInt64
    public let lo: UInt64

    public init(hi: UInt64, lo: UInt64) { self.hi = hi; self.lo = lo }

    public init(ipv4 value: UInt32) { self.hi = 0; self.lo = 0x0000_FFFF_0000_0000 | UInt64(value) }

    public var isIPv4: Bool { hi == 0 && (lo >> 32) == 0x0000_FFFF }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no brackets).
    public init?<S: StringProtocol>(_ text: S) {
        // The common case, a plain dotted quad, without a C string.
        if let quad = text.utf8.withContiguousStorageIfAvailable(Self.dottedQuad), let v = quad {
            self.init(ipv4: v)
            return
        }
        let s = String(text)
        // inet_pton stops at a NUL: "1.2.3.4\0junk" must not pass as 1.2.3.4.
        guard !s.isEmpty, s.utf8.count <= 45, !s.utf8.contains(0) else { return nil }
        if s.utf8.contains(UInt8(ascii: ":")) {
            var a6 = in6_addr()
            guard inet_pton(AF_INET6, s, &a6) == 1 else { return nil }
            var h: UInt64 = 0, l: UInt64 = 0
            withUnsafeBytes(of: &a6) { raw in
                for i in 0..<8 { h = (h << 8) | UInt64(raw[i]) }
                for i in 8..<16 { l = (l << 8) | UInt64(raw[i]) }
            }
            self.init(hi: h, lo: l)
        } else {
            var a4 = in_addr()
            guard inet_pton(AF_INET, s, &a4) == 1 else { return nil }
            self.init(ipv4: UInt32(bigEndian: a4.s_addr))
        }
    }

    /// Four decimal octets of 1-3 digits, no leading zeros, each at most 255:
    /// a strict subset of what inet_pton(AF_INET) accepts, with the same value
    /// (anything else goes to inet_pton).
    @inline(__always)
    static func dottedQuad(_ b: UnsafeBufferPointer<UInt8>) -> UInt32? {
        guard b.count >= 7, b.count <= 15 else { return nil }
        var value: UInt32 = 0, octet: UInt32 = 0, digits = 0, parts = 0
        for c in b {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | octet
                octet = 0; digits = 0; parts += 1
            } else {
                guard c >= 0x30 && c <= 0x39, digits < 3, !(digits == 1 && octet == 0) else { return nil }
                octet = octet * 10 + UInt32(c - 0x30)
                guard octet <= 255 else { return nil }
                digits += 1
            }
        }
        guard parts == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    public var description: String {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: lo)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        }
        var a6 = in6_addr()
        withUnsafeMutableBytes(of: &a6) { raw in
            for i in 0..<8 { raw[i] = UInt8(truncatingIfNeeded: hi >> (56 - 8 * UInt64(i))) }
            for i in 0..<8 { raw[8 + i] = UInt8(truncatingIfNeeded: lo >> (56 - 8 * UInt64(i))) }
        }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        _ = inet_ntop(AF_INET6, &a6, &buf, socklen_t(buf.count))
        return String(cString: buf)
    }
}

/// An address block: an address with a prefix length, or a single address.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    /// Prefix length in the 128-bit space (an IPv4 /24 is 120 here).
    public let prefix128: Int

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case notAnAddress(String)
        case badPrefix(String, max: Int)
        case hostBitsSet(String, network: String)

        public var description: String {
            switch self {
            case .notAnAddress(let s): return "'\(s)' is not an IPv4 or IPv6 address or CIDR block"
            case .badPrefix(let s, let max): return "'\(s)' has a prefix length outside 0-\(max)"
            case .hostBitsSet(let s, let n): return "'\(s)' has host bits set; did you mean \(n)?"
            }
        }
    }

    public init(address: IPAddress, prefix128: Int) {
        self.address = address
        self.prefix128 = prefix128
    }

    public static func parse(_ text: String) -> Result<IPNetwork, ParseError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(parts[0]) else { return .failure(.notAnAddress(text)) }
        let isV4Text = !parts[0].contains(":")
        let maxPrefix = isV4Text ? 32 : 128
        var prefix = maxPrefix
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.count <= 3, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let p = Int(parts[1]), p <= maxPrefix
            else { return .failure(.badPrefix(text, max: maxPrefix)) }
            prefix = p
        }
        let p128 = isV4Text ? prefix + 96 : prefix
        let net = IPNetwork(address: addr, prefix128: p128)
        let masked = IPNetwork(address: net.masked(addr), prefix128: p128)
        if masked.address != addr {
            return .failure(.hostBitsSet(text, network: masked.description))
        }
        return .success(net)
    }

    @inline(__always)
    func masked(_ a: IPAddress) -> IPAddress {
        let p = prefix128
        let hiMask: UInt64 = p >= 64 ? ~0 : (p == 0 ? 0 : ~0 << (64 - UInt64(p)))
        let loMask: UInt64 = p <= 64 ? 0 : (p >= 128 ? ~0 : ~0 << (128 - UInt64(p)))
        return IPAddress(hi: a.hi & hiMask, lo: a.lo & loMask)
    }

    @inline(__always)
    public func contains(_ a: IPAddress) -> Bool { masked(a) == address }

    public var description: String {
        if address.isIPv4 && prefix128 >= 96 {
            return prefix128 == 128 ? address.description : "\(address)/\(prefix128 - 96)"
        }
        return prefix128 == 128 ? address.description : "\(address)/\(prefix128)"
    }
}

/// An IP restriction: either any address, or a list of blocks of which one
/// must contain the caller's address.
public enum IPAllowList: Hashable, Sendable {
    case any
    case only([IPNetwork])

    /// Whether `address` passes. An unknown address passes only an unrestricted list.
    @inline(__always)
    public func permits(_ address: IPAddress?) -> Bool {
        switch self {
        case .any: return true
        case .only(let nets):
            guard let a = address else { return false }
            for n in nets where n.contains(a) { return true }
            return false
        }
    }

    public var networks: [IPNetwork] { if case .only(let n) = self { return n } else { return [] } }
}
