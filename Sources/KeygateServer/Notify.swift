#if canImport(Glibc)
import Glibc
#endif

/// The systemd notify protocol: datagrams to $NOTIFY_SOCKET. A no-op when the
/// variable is unset, as when the daemon runs by hand.
public final class SystemdNotifier: @unchecked Sendable {
    private let path: [UInt8]?

    public init(environment: [String: String]) {
        if let p = environment["NOTIFY_SOCKET"], !p.isEmpty, p.utf8.count < 108 {
            // '@' names an abstract socket: a leading NUL byte.
            path = p.hasPrefix("@") ? [0] + Array(p.utf8.dropFirst()) : Array(p.utf8)
        } else {
            path = nil
        }
    }

    public var isActive: Bool { path != nil }

    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let path else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let n = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, len) }
            }
        }
        return n == bytes.count
    }

    /// CLOCK_MONOTONIC in microseconds, for RELOADING=1's MONOTONIC_USEC.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}
