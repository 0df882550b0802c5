#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import KeygateConfig
import NIOCore
import NIOHTTP1

/// The peer of a Unix socket connection, from SO_PEERCRED at accept time.
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

}

/// Everything a route sees of a request.
struct Request {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var peer: PeerCredentials
    var path: Substring
    var query: Substring?

    init(head: HTTPRequestHead, body: ByteBuffer, peer: PeerCredentials) {
        self.head = head
        self.body = body
        self.peer = peer
        if let q = head.uri.firstIndex(of: "?") {
            path = head.uri[..<q]
            query = head.uri[head.uri.index(after: q)...]
        } else {
            path = Substring(head.uri)
            query = nil
        }
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

/// Collects one HTTP request (head and a bounded body) and hands it to the
/// responder; writes the answer. Pipelining order is kept by NIO's
/// HTTPServerPipelineHandler in front of this one.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBody = 64 * 1024

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer?)
        case refusing   // body over the limit: drop the rest, then close
    }

    private var state = State.idle
    private let responder: Responder
    private let context: ResponderContext

    init(responder: Responder, context: ResponderContext) {
        self.responder = responder
        self.context = context
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let len = head.headers.first(name: "content-length").flatMap(Int.init), len > Self.maxBody {
                refuseTooLarge(ctx, declared: len)
                return
            }
            state = .receiving(head, nil)
        case .body(var chunk):
            guard case .receiving(let head, let existing) = state else { return }
            guard var body = existing else {
                // The usual case: the whole body in one chunk, kept without a copy.
                if chunk.readableBytes > Self.maxBody { refuseTooLarge(ctx, declared: nil); return }
                state = .receiving(head, chunk)
                return
            }
            if body.readableBytes + chunk.readableBytes > Self.maxBody {
                refuseTooLarge(ctx, declared: nil)
                return
            }
            state = .idle  // drop the reference so the append does not copy
            body.writeBuffer(&chunk)
            state = .receiving(head, body)
        case .end:
            guard case .receiving(let head, let body) = state else {
                state = .idle
                return
            }
            state = .idle
            let started = MonotonicClock.seconds()
            let request = Request(head: head, body: body ?? ByteBuffer(), peer: context.peer)
            switch responder.respond(to: request, context: context) {
            case .now(let r):
                write(r, keepAlive: head.isKeepAlive && !r.close, ctx)
                context.replica.stats.observe(socket: context.socket, seconds: MonotonicClock.seconds() - started)
            case .later(let f):
                f.hop(to: ctx.eventLoop).whenComplete { result in
                    self.context.replica.stats.observe(socket: self.context.socket, seconds: MonotonicClock.seconds() - started)
                    switch result {
                    case .success(let r): self.write(r, keepAlive: head.isKeepAlive && !r.close, ctx)
                    case .failure(let e):
                        let api = APIError(any: e)
                        self.write(.error(api, allocator: ctx.channel.allocator), keepAlive: head.isKeepAlive, ctx)
                    }
                }
            }
        }
    }

    private func refuseTooLarge(_ ctx: ChannelHandlerContext, declared: Int?) {
        if case .refusing = state { return }
        state = .refusing
        let what = declared.map { "the body of \($0) bytes" } ?? "the body"
        let e = APIError(413, "request_too_large", "\(what) is over the limit of \(Self.maxBody) bytes")
        write(.error(e, allocator: ctx.channel.allocator), keepAlive: false, ctx)
    }

    private func write(_ response: Response, keepAlive: Bool, _ ctx: ChannelHandlerContext) {
        var headers = response.headers
        headers.add(name: "Content-Length", value: String(response.body?.readableBytes ?? 0))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        ctx.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        if let b = response.body, b.readableBytes > 0 {
            ctx.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil)
        }
        let done = ctx.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            done.whenComplete { _ in ctx.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            ctx.close(promise: nil)  // nothing from this peer for `Listener.idleTimeout`
            return
        }
        ctx.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context ctx: ChannelHandlerContext, error: Error) {
        // Parser errors: answer once, then the decoder closes the connection.
        if let parse = error as? HTTPParserError {
            let e: APIError
            switch parse {
            case .headerOverflow:
                e = APIError(431, "headers_too_large", "the request headers are over the limit of \(Self.maxHeaderBytes) bytes")
            default:
                e = APIError(400, "invalid_request", "the request is not valid HTTP/1.1 (\(parse))")
            }
            write(.error(e, allocator: ctx.channel.allocator), keepAlive: false, ctx)
            return
        }
        ctx.close(promise: nil)
    }

    static let maxHeaderBytes = 16 * 1024
}
