#if canImport(Glibc)
import Glibc
#endif
import KeygateCore

public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first(where: { $0.0.lowercased() == name.lowercased() })?.1
    }

    public func json() throws -> JSON { try JSON.parse(body) }
}

public enum ClientError: Error, CustomStringConvertible {
    /// The daemon could not be reached at all: the socket is missing, refused or not ours.
    case unreachable(path: String, reason: String, errno: Int32)
    case io(String)
    case badResponse(String)
    /// The daemon answered with an error: its code and message.
    case refused(APIError)

    public var description: String {
        switch self {
        case .unreachable(let path, let reason, _): return "cannot reach keygated at \(path): \(reason)"
        case .io(let s): return s
        case .badResponse(let s): return "unexpected answer from keygated: \(s)"
        case .refused(let e): return e.message
        }
    }

    /// What an operator can do about it.
    public var advice: String? {
        guard case .unreachable(_, _, let code) = self else { return nil }
        switch code {
        case ENOENT: return "is keygated running? Start it with 'systemctl start keygated', or point --admin-socket/--service-socket (KEYGATE_ADMIN_SOCKET/KEYGATE_SOCKET) at the right path"
        case ECONNREFUSED: return "the socket file exists but nobody is listening: keygated has stopped or is restarting ('systemctl status keygated')"
        case EACCES, EPERM: return "permission denied: run as root or as a member of the socket's group (see listen.group in keygate.yaml)"
        default: return nil
        }
    }
}

/// A minimal blocking HTTP/1.1 client over a Unix domain socket, one request
/// per connection: all the control tool needs.
public struct UnixHTTPClient: Sendable {
    public var path: String
    public var timeoutSeconds: Int

    public init(path: String, timeoutSeconds: Int = 30) { self.path = path; self.timeoutSeconds = timeoutSeconds }

    public func request(_ method: String, _ target: String, json: JSON? = nil, headers: [(String, String)] = []) throws -> HTTPReply {
        let body = json?.serialized() ?? []
        var allHeaders = headers
        if json != nil { allHeaders.append(("Content-Type", "application/json")) }
        return try request(method, target, body: body, headers: allHeaders)
    }

    public func request(_ method: String, _ target: String, body: [UInt8], headers: [(String, String)]) throws -> HTTPReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.io("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            throw ClientError.unreachable(path: path, reason: "socket path longer than 107 bytes", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let e = errno
            throw ClientError.unreachable(path: path, reason: String(cString: strerror(e)), errno: e)
        }
        var head = "\(method) \(target) HTTP/1.1\r\nHost: keygate\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        head += "\r\n"
        try writeAll(fd, Array(head.utf8) + body)
        return try readReply(fd)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError.io("sending to \(path): \(String(cString: strerror(errno)))")
            }
            off += n
        }
    }

    private func readReply(_ fd: Int32) throws -> HTTPReply {
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int? = nil
        var contentLength: Int? = nil
        var reply = HTTPReply(status: 0, headers: [], body: [])
        while true {
            if let he = headerEnd, let cl = contentLength, data.count - he >= cl { break }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError.io("reading from \(path): \(errno == EAGAIN ? "no answer within \(timeoutSeconds)s" : String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data.append(contentsOf: chunk[0..<n])
            if headerEnd == nil, let r = find(data, [13, 10, 13, 10]) {
                headerEnd = r + 4
                let lines = String(decoding: data[0..<r], as: UTF8.self).components(separatedBy: "\r\n")
                let status = lines.first?.split(separator: " ")
                guard let s = status, s.count >= 2, let code = Int(s[1]) else { throw ClientError.badResponse("no HTTP status line") }
                reply.status = code
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    let k = String(line[..<colon]), v = line[line.index(after: colon)...].trimmed(" \t")
                    reply.headers.append((k, v))
                    if k.lowercased() == "content-length" { contentLength = Int(v) }
                }
            }
        }
        guard let he = headerEnd else { throw ClientError.badResponse("connection closed before a full answer") }
        reply.body = Array(data[he..<(contentLength.map { min(he + $0, data.count) } ?? data.count)])
        return reply
    }

    private func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle { return i }
        return nil
    }
}

extension StringProtocol {
    /// Without the characters of `set` at either end.
    public func trimmed(_ set: String) -> String {
        // Byte-wise when `set` is ASCII (every caller's is): trimming ASCII never
        // splits a character, and walking Characters from both ends was slow
        // enough to show in the token endpoint's profile.
        guard set.utf8.allSatisfy({ $0 < 0x80 }) else {
            return String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
        }
        let whole = Substring(self)
        let u = whole.utf8
        var start = u.startIndex, end = u.endIndex
        while start < end, set.utf8.contains(u[start]) { start = u.index(after: start) }
        while start < end {
            let before = u.index(before: end)
            guard set.utf8.contains(u[before]) else { break }
            end = before
        }
        return String(whole[start..<end])
    }
}

extension String {

    func components(separatedBy sep: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: sep) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
