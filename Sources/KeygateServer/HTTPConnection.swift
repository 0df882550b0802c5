import KeygateAPI
import KeygateHTTP
import NIOCore

/// One HTTP/1.1 connection on either socket: decodes requests with
/// KeygateHTTP's parser straight from the bytes read, answers them in order
/// (pipelining), and writes each answer as one buffer.
///
/// Bounds (SPEC 13): a connection is not read while an answer is outstanding
/// or while its peer leaves answers unread (the channel is not writable), so
/// what one connection can make the daemon buffer is one request in, about
/// the write high-water mark out. A request must arrive whole within
/// `requestDeadline` of its first byte. After an answer that ends the
/// connection (a refused request, a body over the limit) the daemon stops
/// writing, reads and drops what the peer still sends for a bounded time,
/// then closes, so the peer reads the answer instead of a reset.
final class HTTPConnection: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let requestDeadline = TimeAmount.seconds(10)
    /// After an answer that closes the connection: how long, and how much, is read and dropped.
    static let drainTime = TimeAmount.seconds(10)
    static let drainBytes = 16 * 1024 * 1024

    private enum Phase {
        case head
        case body(ParsedHead, Int)
        case chunked(ParsedHead, ChunkedDecoder)
        /// An answer is being computed (`.later`); nothing more is decoded.
        case responding
        /// The last answer is written; input is dropped until `remaining` or the timer runs out.
        case draining(remaining: Int)
        case closed
    }

    private var phase = Phase.head
    /// Received bytes not yet used; its reader index is the current request's first byte.
    private var input: ByteBuffer?
    private var scanner = HeadScanner()
    private var deadline: Scheduled<Void>?
    private var sentContinue = false
    private var heldRead = false
    private var needsFlush = false
    /// When the peer last sent anything, for the idle timeout (one timer per
    /// connection, moved forward lazily instead of on every read).
    private var lastRead = NIODeadline.now()
    private var idleTimer: Scheduled<Void>?
    private let responder: Responder
    private let context: ResponderContext
    /// The answer for a peer the socket refuses: sent as soon as the
    /// connection is up, then the connection closes (it holds no slot).
    private let refusal: Response?
    /// The daemon is stopping: finish the request in hand, then close.
    private var quiescing = false

    init(responder: Responder, context: ResponderContext, refusal: Response? = nil) {
        self.responder = responder
        self.context = context
        self.refusal = refusal
    }

    // MARK: Reading

    func handlerAdded(context ctx: ChannelHandlerContext) {
        if ctx.channel.isActive { start(ctx) }
    }

    func channelActive(context ctx: ChannelHandlerContext) {
        start(ctx)
        ctx.fireChannelActive()
    }

    private var started = false

    private func start(_ ctx: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        if let r = refusal {
            // Whatever the peer has sent is read and dropped for a moment, so
            // that it reads the 403 rather than a reset.
            answerThenDrain(r, limit: HTTPLimits.maxHeadBytes, for: .seconds(1), ctx)
            return
        }
        armIdle(ctx, in: Listener.idleTimeout)
    }

    func userInboundEventTriggered(context ctx: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .head = phase, (input?.readableBytes ?? 0) == 0 { closeNow(ctx) }
            return
        }
        ctx.fireUserInboundEventTriggered(event)
    }

    /// Closes the connection once nothing has arrived for `Listener.idleTimeout`.
    private func armIdle(_ ctx: ChannelHandlerContext, in delay: TimeAmount) {
        if idleTimer != nil && delay == Listener.idleTimeout { return }
        idleTimer = ctx.eventLoop.scheduleTask(in: delay) { [weak self] in
            guard let self else { return }
            self.idleTimer = nil
            let quiet = NIODeadline.now() - self.lastRead
            if quiet >= Listener.idleTimeout {
                self.closeNow(ctx)
            } else {
                self.armIdle(ctx, in: Listener.idleTimeout - quiet)
            }
        }
    }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch phase {
        case .closed:
            return
        case .draining(let remaining):
            let left = remaining - bytes.readableBytes
            if left <= 0 { closeNow(ctx) } else { phase = .draining(remaining: left) }
            return
        default:
            break
        }
        if input == nil { input = bytes } else { input!.writeBuffer(&bytes) }
        process(ctx)
    }

    func channelReadComplete(context ctx: ChannelHandlerContext) {
        lastRead = NIODeadline.now()
        flushIfNeeded(ctx)
    }

    /// Whether reading this connection waits: an answer is outstanding or the peer is not reading answers.
    private func holdsReads(_ ctx: ChannelHandlerContext) -> Bool {
        if case .responding = phase { return true }
        if case .draining = phase { return false }
        return !ctx.channel.isWritable
    }

    func read(context ctx: ChannelHandlerContext) {
        if holdsReads(ctx) { heldRead = true } else { ctx.read() }
    }

    private func resumeReading(_ ctx: ChannelHandlerContext) {
        if heldRead && !holdsReads(ctx) {
            heldRead = false
            ctx.read()
        }
    }

    func channelWritabilityChanged(context ctx: ChannelHandlerContext) {
        if ctx.channel.isWritable {
            process(ctx)
            flushIfNeeded(ctx)
            resumeReading(ctx)
        }
        ctx.fireChannelWritabilityChanged()
    }

    /// Decodes and answers every whole request in `input`, in order, while
    /// answers can be written.
    private func process(_ ctx: ChannelHandlerContext) {
        while true {
            guard var bytes = input, bytes.readableBytes > 0 else { return }
            switch phase {
            case .closed, .draining, .responding:
                return
            case .head:
                guard ctx.channel.isWritable else { flushIfNeeded(ctx); return }
                let result = bytes.withUnsafeReadableBytes { scanner.scan($0) }
                switch result {
                case .incomplete:
                    if scanner.begun && deadline == nil { armDeadline(ctx) }
                    return
                case .invalid(let e):
                    refuse(APIError(e.status, e.code, e.message), ctx)
                    return
                case .complete(let head):
                    switch head.framing {
                    case .none:
                        dispatch(head, body: ByteBuffer(), consumed: head.end, &bytes, ctx)
                    case .length(let n):
                        if n > HTTPLimits.maxBodyBytes {
                            tooLarge(declared: n, alreadyHere: bytes.readableBytes - head.end, ctx)
                            return
                        }
                        phase = .body(head, n)
                    case .chunked:
                        phase = .chunked(head, ChunkedDecoder(start: head.end))
                    }
                }
            case .body(let head, let n):
                guard bytes.readableBytes >= head.end + n else {
                    if deadline == nil { armDeadline(ctx) }
                    askForBody(head, ctx)
                    return
                }
                let body = bytes.getSlice(at: bytes.readerIndex + head.end, length: n)!
                dispatch(head, body: body, consumed: head.end + n, &bytes, ctx)
            case .chunked(let head, var decoder):
                let status = bytes.withUnsafeReadableBytes { decoder.advance($0) }
                switch status {
                case .incomplete:
                    phase = .chunked(head, decoder)
                    if deadline == nil { armDeadline(ctx) }
                    askForBody(head, ctx)
                    return
                case .invalid(let e):
                    refuse(APIError(e.status, e.code, e.message), ctx)
                    return
                case .tooLarge:
                    tooLarge(declared: nil, alreadyHere: 0, ctx)
                    return
                case .complete(let end):
                    var body = ctx.channel.allocator.buffer(capacity: decoder.body.count)
                    body.writeBytes(decoder.body)
                    dispatch(head, body: body, consumed: end, &bytes, ctx)
                }
            }
        }
    }

    /// `100 Continue` once, for a client that waits for it before sending a body.
    private func askForBody(_ head: ParsedHead, _ ctx: ChannelHandlerContext) {
        guard head.expectContinue, !sentContinue else { return }
        sentContinue = true
        var out = ctx.channel.allocator.buffer(capacity: 25)
        out.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
        ctx.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    private func armDeadline(_ ctx: ChannelHandlerContext) {
        deadline = ctx.eventLoop.scheduleTask(in: Self.requestDeadline) { [weak self] in
            guard let self else { return }
            self.deadline = nil
            switch self.phase {
            case .head, .body, .chunked:
                self.refuse(APIError(408, "request_timeout",
                                     "the request did not arrive whole within \(Self.requestDeadline.nanoseconds / 1_000_000_000) seconds of its first byte"), ctx)
            default:
                break
            }
        }
    }

    /// Hands a whole request to the responder and writes its answer (now, or when it is ready).
    private func dispatch(_ head: ParsedHead, body: ByteBuffer, consumed: Int, _ bytes: inout ByteBuffer, _ ctx: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        let request: Request = bytes.withUnsafeReadableBytes { p in
            let method = String(decoding: UnsafeRawBufferPointer(rebasing: p[head.method]), as: UTF8.self)
            let uri = String(decoding: UnsafeRawBufferPointer(rebasing: p[head.target]), as: UTF8.self)
            let headers = RequestHeaders(bytes: bytes.getSlice(at: bytes.readerIndex, length: head.end)!, lines: head.headers)
            return Request(head: RequestHead(method: method, uri: uri, headers: headers, isKeepAlive: head.keepAlive),
                           body: body, peer: context.peer)
        }
        bytes.moveReaderIndex(forwardBy: consumed)
        input = bytes.readableBytes > 0 ? bytes : nil
        scanner = HeadScanner()
        sentContinue = false
        phase = .head
        let isHead = request.head.method == "HEAD"
        let keepAlive = head.keepAlive && !quiescing
        let started = MonotonicClock.seconds()
        switch responder.respond(to: request, context: context) {
        case .now(let r):
            write(r, keepAlive: keepAlive && !r.close, isHead: isHead, ctx)
            context.replica.stats.observe(socket: context.socket, seconds: MonotonicClock.seconds() - started)
        case .later(let future):
            phase = .responding
            future.hop(to: ctx.eventLoop).whenComplete { result in
                self.context.replica.stats.observe(socket: self.context.socket, seconds: MonotonicClock.seconds() - started)
                guard case .responding = self.phase else { return }  // closed meanwhile
                self.phase = .head
                switch result {
                case .success(let r): self.write(r, keepAlive: keepAlive && !r.close && !self.quiescing, isHead: isHead, ctx)
                case .failure(let e): self.write(.error(APIError(any: e), allocator: ctx.channel.allocator), keepAlive: keepAlive, isHead: isHead, ctx)
                }
                self.process(ctx)
                self.flushIfNeeded(ctx)
                self.resumeReading(ctx)
            }
        }
    }

    // MARK: Writing

    private func flushIfNeeded(_ ctx: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            ctx.flush()
        }
    }

    /// Writes one answer as one buffer; an answer that ends the connection is
    /// flushed, then the connection closes.
    private func write(_ response: Response, keepAlive: Bool, isHead: Bool, _ ctx: ChannelHandlerContext) {
        guard let out = ResponseEncoder.encode(response, keepAlive: keepAlive, isHead: isHead, allocator: ctx.channel.allocator) else {
            // A header value with CR, LF or NUL: a bug, never sent as is.
            let fallback = Response.error(APIError(500, "internal_error", "the answer could not be encoded"), allocator: ctx.channel.allocator)
            write(fallback, keepAlive: false, isHead: isHead, ctx)
            return
        }
        if keepAlive {
            ctx.write(wrapOutboundOut(out), promise: nil)
            needsFlush = true
        } else {
            phase = .closed
            needsFlush = false
            ctx.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in ctx.close(promise: nil) }
        }
    }

    /// An answer that ends the connection while the peer may still be
    /// sending: written, then input is read and dropped (up to `limit` bytes
    /// or `drainTime`) so that the peer gets to read it.
    private func answerThenDrain(_ response: Response, limit: Int, for time: TimeAmount = HTTPConnection.drainTime, _ ctx: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        input = nil
        guard let out = ResponseEncoder.encode(response, keepAlive: false, isHead: false, allocator: ctx.channel.allocator) else {
            closeNow(ctx); return
        }
        phase = .draining(remaining: max(limit, 1))
        needsFlush = false
        ctx.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in ctx.close(mode: .output, promise: nil) }
        deadline = ctx.eventLoop.scheduleTask(in: time) { [weak self] in self?.closeNow(ctx) }
        resumeReading(ctx)
    }

    private func refuse(_ e: APIError, _ ctx: ChannelHandlerContext) {
        answerThenDrain(.error(e, allocator: ctx.channel.allocator), limit: HTTPLimits.maxHeadBytes + HTTPLimits.maxBodyBytes, ctx)
    }

    private func tooLarge(declared: Int?, alreadyHere: Int, _ ctx: ChannelHandlerContext) {
        let what = declared.map { "the body of \($0) bytes" } ?? "the body"
        let e = APIError(413, "request_too_large", "\(what) is over the limit of \(HTTPLimits.maxBodyBytes) bytes")
        let rest = declared.map { min(max($0 - alreadyHere, 0), Self.drainBytes) } ?? Self.drainBytes
        answerThenDrain(.error(e, allocator: ctx.channel.allocator), limit: rest, ctx)
    }

    private func closeNow(_ ctx: ChannelHandlerContext) {
        if case .closed = phase { return }
        finish()
        ctx.close(promise: nil)
    }

    /// Nothing more happens on this connection: timers off, buffers dropped.
    private func finish() {
        phase = .closed
        idleTimer?.cancel()
        idleTimer = nil
        deadline?.cancel()
        deadline = nil
        input = nil
    }

    func channelInactive(context ctx: ChannelHandlerContext) {
        finish()
        ctx.fireChannelInactive()
    }


    func errorCaught(context ctx: ChannelHandlerContext, error: Error) {
        closeNow(ctx)
    }
}

/// Writes an answer's status line, headers and body into one buffer, in one access.
enum ResponseEncoder {
    /// nil when a header would break the framing (CR, LF or NUL in a name or value).
    static func encode(_ r: Response, keepAlive: Bool, isHead: Bool, allocator: ByteBufferAllocator) -> ByteBuffer? {
        let code = Int(r.status.code)
        // RFC 9110 section 8.6: no Content-Length on 1xx and 204; 304 has none here.
        let framed = !(code < 200 || code == 204 || code == 304)
        let body = framed && !isHead ? r.body : nil
        let reason = r.status.reasonPhrase
        var size = 9 + 4 + reason.utf8.count + 2 + 16 + 20 + 2 + 19 + 2 + (body?.readableBytes ?? 0)
        for (name, value) in r.headers {
            guard safe(name), safe(value) else { return nil }
            size += name.utf8.count + value.utf8.count + 4
        }
        var out = allocator.buffer(capacity: size)
        out.writeRaw(maxBytes: size) { w in
            w.append("HTTP/1.1 ")
            w.appendDecimal(code)
            w.append(byte: 0x20)
            w.append(reason)
            w.append("\r\n")
            for (name, value) in r.headers {
                w.append(name)
                w.append(": ")
                w.append(value)
                w.append("\r\n")
            }
            if framed {
                w.append("Content-Length: ")
                w.appendDecimal(r.body?.readableBytes ?? 0)
                w.append("\r\n")
            }
            if !keepAlive { w.append("Connection: close\r\n") }
            w.append("\r\n")
            body?.withUnsafeReadableBytes { w.append($0) }
        }
        return out
    }

    @inline(__always)
    static func safe(_ s: String) -> Bool {
        for b in s.utf8 where b == 13 || b == 10 || b == 0 { return false }
        return true
    }
}
