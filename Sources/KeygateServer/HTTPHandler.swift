#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import KeygateConfig
import KeygateHTTP
import NIOCore
import NIOHTTP1

/// The peer of a Unix socket connection, from SO_PEERCRED at accept time.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

}

/// A request's head as the routes see it: strings for the method and target,
/// header values looked up in the head's own bytes when asked for.
struct RequestHead {
    var method: String
    var uri: String
    var headers: RequestHeaders
    var isKeepAlive: Bool
}

/// The header lines of a request, kept as the bytes they arrived in.
struct RequestHeaders {
    /// The head's bytes; `lines` are offsets into them.
    let bytes: ByteBuffer
    let lines: Range<Int>

    func first(name: String) -> String? {
        bytes.withUnsafeReadableBytes { p in
            HTTPParser.header(in: p, lines: lines) { Self.equal(p, $0, name) }
                .map { String(decoding: UnsafeRawBufferPointer(rebasing: p[$0]), as: UTF8.self) }
        }
    }

    func contains(name: String) -> Bool {
        bytes.withUnsafeReadableBytes { p in HTTPParser.header(in: p, lines: lines) { Self.equal(p, $0, name) } != nil }
    }

    /// Case-insensitive ASCII comparison of a field name with `name`.
    @inline(__always)
    static func equal(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, _ name: String) -> Bool {
        var it = name.utf8.makeIterator()
        for i in r {
            guard var c = it.next() else { return false }
            var b = p[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if c >= 0x41 && c <= 0x5A { c |= 0x20 }
            if b != c { return false }
        }
        return it.next() == nil
    }
}

/// Everything a route sees of a request.
struct Request {
    var head: RequestHead
    var body: ByteBuffer
    var peer: PeerCredentials
    var path: Substring
    var query: Substring?

    init(head: RequestHead, body: ByteBuffer, peer: PeerCredentials) {
        self.head = head
        self.body = body
        self.peer = peer
        if let q = head.uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            path = head.uri[..<q]
            query = head.uri[head.uri.index(after: q)...]
        } else {
            path = Substring(head.uri)
            query = nil
        }
    }

    /// A request built from parts (for tests and in-process callers): the
    /// head is written out and parsed as if it had arrived on a socket.
    init(method: String, uri: String, headers: [(String, String)], body: ByteBuffer, peer: PeerCredentials) {
        var text = "\(method) \(uri) HTTP/1.1\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        text += "\r\n"
        var bytes = ByteBuffer()
        bytes.writeString(text)
        var scanner = HeadScanner()
        guard case .complete(let parsed) = bytes.withUnsafeReadableBytes({ scanner.scan($0) }) else {
            preconditionFailure("not a valid request head: \(text)")
        }
        self.init(head: RequestHead(method: method, uri: uri, headers: RequestHeaders(bytes: bytes, lines: parsed.headers),
                                    isKeepAlive: parsed.keepAlive),
                  body: body, peer: peer)
    }

    func json() throws -> JSON {
        guard body.readableBytes > 0 else { throw APIError.invalidRequest("the request needs a JSON body") }
        do {
            return try body.withUnsafeReadableBytes { raw in
                try JSON.parse(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
            }
        } catch let e as JSONError {
            throw APIError.invalidRequest("the body is not valid JSON: \(e)")
        }
    }
}

struct Response {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer?
    /// Close the connection after this answer (a refused peer does not get to keep one open).
    var close = false

    static func json(_ status: HTTPResponseStatus, _ value: JSON, allocator: ByteBufferAllocator, extraHeaders: [(String, String)] = []) -> Response {
        let bytes = value.serialized()
        var buf = allocator.buffer(capacity: bytes.count)
        buf.writeBytes(bytes)
        var h = HTTPHeaders([("Content-Type", "application/json")])
        h.add(contentsOf: extraHeaders)
        return Response(status: status, headers: h, body: buf)
    }

    static func error(_ e: APIError, allocator: ByteBufferAllocator, extraHeaders: [(String, String)] = []) -> Response {
        json(HTTPResponseStatus(statusCode: e.status), e.json, allocator: allocator, extraHeaders: extraHeaders)
    }

    static func empty(_ status: HTTPResponseStatus, headers: [(String, String)] = []) -> Response {
        Response(status: status, headers: HTTPHeaders(headers), body: nil)
    }
}

enum Reply {
    case now(Response)
    case later(EventLoopFuture<Response>)
}

protocol Responder: Sendable {
    func respond(to request: Request, context: ResponderContext) -> Reply
    /// The answer for a peer this socket refuses whatever it asks, or nil.
    func refusal(_ context: ResponderContext) -> Response?
}

extension Responder {
    func refusal(_ context: ResponderContext) -> Response? { nil }
}

/// Per-connection facts a responder needs, alive on the connection's event loop.
final class ResponderContext {
    let loop: EventLoop
    let allocator: ByteBufferAllocator
    let replica: Replica
    let peer: PeerCredentials
    /// 0: the service socket, 1: the admin socket (for the latency histogram).
    let socket: Int

    init(loop: EventLoop, allocator: ByteBufferAllocator, replica: Replica, peer: PeerCredentials, socket: Int) {
        self.loop = loop; self.allocator = allocator; self.replica = replica; self.peer = peer; self.socket = socket
    }

    /// Whether any of `principals` names this peer. Pure: group members were
    /// resolved when the configuration was loaded.
    func admits(_ principals: [Principal]) -> Bool {
        principals.contains { $0.admits(uid: peer.uid, gid: peer.gid) }
    }
}

