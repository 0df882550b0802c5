#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import KeygateConfig
import KeygateCore
import NIOCore
import NIOHTTP1

/// The service socket's handlers: verification for local services, health, metrics.
struct ServiceHandlers {
    let clock: Clock
    let oauth: OAuthResponder
    let limiter: FailureLimiter
    let engine: Engine
    /// With several hosts, a well-formed secret this host does not know is looked up.
    let lookUps: Bool

    init(engine: Engine, clock: Clock, limiter: FailureLimiter) {
        self.clock = clock
        self.limiter = limiter
        self.engine = engine
        self.lookUps = engine.store.sharedWithOtherHosts
        self.oauth = OAuthResponder(engine: engine, clock: clock, limiter: limiter)
    }

    /// A verdict now, or a secret to look up in the shared database first.
    enum Decision {
        case done(Verdict)
        case lookUp(SecretDigest, SecretKind, [UInt8])
    }

    /// `check`, but an UNKNOWN well-formed secret (not rate limited) is handed
    /// back for a lookup instead: another host may have created it a moment ago.
    @inline(__always)
    func decide(_ secret: UnsafeBufferPointer<UInt8>, ip: IPAddress?, ipText: String?, now: Timestamp, _ ctx: ResponderContext) -> Decision {
        if lookUps, let kind = SecretFormat.classify(secret), kind != .clientSecret,
           case .refused(.unknown) = ctx.replica.verify(secret: secret, ip: ip, ipText: ipText, now: now),
           !(ip.map { limiter.isLimited($0, limit: ctx.replica.config.verify.failuresPerIP, now: now) } ?? false) {
            return .lookUp(SecretDigest(of: secret), kind, Array(secret))
        }
        return .done(check(secret, ip: ip, ipText: ipText, now: now, ctx))
    }

    /// Looks the secret up, then decides on this loop's replica, which holds
    /// what the lookup found.
    func afterLookUp(_ digest: SecretDigest, _ kind: SecretKind, _ secret: [UInt8], ip: IPAddress?, ipText: String?,
                     _ ctx: ResponderContext, _ answer: @escaping (Verdict) -> Response) -> EventLoopFuture<Response> {
        engine.lookUp(digest: digest, kind: kind, on: ctx.loop).map { _ in
            answer(secret.withUnsafeBufferPointer { check($0, ip: ip, ipText: ipText, now: clock.now(), ctx) })
        }
    }

    static func unavailable(_ ctx: ResponderContext) -> Response {
        .error(APIError(503, "storage_unavailable", "the change feed is older than storage.max_staleness; verification is refused until it is read again"),
               allocator: ctx.allocator)
    }

    /// The verdict for a credential from `ip`. Failed checks are counted per
    /// address; past `verify.failures_per_ip` in a minute a failed check is
    /// answered RATE_LIMITED, which tells a guesser nothing. A valid credential
    /// always passes (callers behind one NAT or proxy address are not locked
    /// out by someone else's stale key), and never touches the shared table.
    @inline(__always)
    func check(_ secret: UnsafeBufferPointer<UInt8>, ip: IPAddress?, ipText: String?, now: Timestamp, _ ctx: ResponderContext) -> Verdict {
        var v = ctx.replica.verify(secret: secret, ip: ip, ipText: ipText, now: now)
        if case .refused = v, let ip {
            if limiter.isLimited(ip, limit: ctx.replica.config.verify.failuresPerIP, now: now) {
                v = .refused(.rateLimited)
            } else {
                limiter.recordFailure(ip, now: now)
            }
        }
        ctx.replica.stats.verifications[LoopStats.outcomeIndex(v)] += 1
        ctx.replica.count(v, secret: secret, now: now)
        return v
    }

    func metrics(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        oauth.engine.metrics(on: ctx.loop).map { text in
            var buf = ctx.allocator.buffer(capacity: text.utf8.count)
            buf.writeString(text)
            return Response(status: .ok, headers: HTTPHeaders([("Content-Type", Payload.prometheus.contentType)]), body: buf)
        }
    }

    static let jsonHeaders = HTTPHeaders([("Content-Type", "application/json")])

    /// The hot path: scan the body in place, decide on this loop's replica,
    /// write the answer straight into a buffer.
    func verify(_ req: Request, _ ctx: ResponderContext) -> Reply {
        if ctx.replica.stale { return .now(Self.unavailable(ctx)) }
        let now = clock.now()
        let outcome: Result<Decision, APIError> = req.body.withUnsafeReadableBytes { raw in
            let bytes = UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count)
            var scanner = JSONScanner(bytes)
            var key: JSONScanner.StringValue? = nil
            var ipText: String? = nil
            do {
                try scanner.forEachMember { s, name in
                    if name.elementsEqual("key".utf8) {
                        guard s.peek() == UInt8(ascii: "\"") else { throw APIError.invalidRequest("verify: 'key' must be a string") }
                        key = try s.readStringValue()
                    } else if name.elementsEqual("ip".utf8) {
                        if s.peek() == UInt8(ascii: "n") { try s.skipValue(); return }
                        guard s.peek() == UInt8(ascii: "\"") else { throw APIError.invalidRequest("verify: 'ip' must be a string") }
                        ipText = try s.readString()
                    } else {
                        throw APIError.invalidRequest("verify: unknown field '\(Redact.echo(String(decoding: name, as: UTF8.self), max: 40))'; expected key, ip")
                    }
                }
                try scanner.expectEnd()
            } catch let e as APIError {
                return .failure(e)
            } catch {
                return .failure(.invalidRequest("verify: the body is not valid JSON: \(error)"))
            }
            var ip: IPAddress? = nil
            if let t = ipText {
                guard let a = IPAddress(t) else {
                    return .failure(.invalidRequest("verify: 'ip' is not an IPv4 or IPv6 address: '\(Redact.echo(t, max: 45))'"))
                }
                ip = a
            }
            switch key {
            case nil:
                return .failure(.invalidRequest("verify: 'key' is required"))
            case .raw(let b)?:
                return .success(decide(b, ip: ip, ipText: ipText, now: now, ctx))
            case .decoded(let s)?:
                return .success(Array(s.utf8).withUnsafeBufferPointer { decide($0, ip: ip, ipText: ipText, now: now, ctx) })
            }
        }
        func answer(_ verdict: Verdict) -> Response {
            var buf = ctx.allocator.buffer(capacity: 192)
            VerdictWriter.write(verdict, into: &buf)
            return Response(status: .ok, headers: Self.jsonHeaders, body: buf)
        }
        switch outcome {
        case .failure(let e):
            return .now(.error(e, allocator: ctx.allocator))
        case .success(.done(let verdict)):
            return .now(answer(verdict))
        case .success(.lookUp(let digest, let kind, let secret)):
            let (ip, ipText) = Self.address(req, ctx)
            return .later(afterLookUp(digest, kind, secret, ip: ip, ipText: ipText, ctx, answer))
        }
    }

    /// The `ip` of a verify body again (only on the rare lookup path).
    static func address(_ req: Request, _ ctx: ResponderContext) -> (IPAddress?, String?) {
        guard let j = try? req.json(), let t = j["ip"]?.stringValue, let a = IPAddress(t) else { return (nil, nil) }
        return (a, t)
    }
}

extension ServiceHandlers {
    static let challenge = HTTPHeaders([("WWW-Authenticate", #"Bearer realm="keygate""#)])
    static let invalidToken = HTTPHeaders([("WWW-Authenticate", #"Bearer realm="keygate", error="invalid_token""#)])

    /// GET /v1/auth, for nginx auth_request: the credential from
    /// `Authorization: Bearer` or `X-API-Key`, the address from `verify.ip_header`.
    func auth(_ req: Request, _ ctx: ResponderContext) -> Reply {
        if ctx.replica.stale { return .now(Self.unavailable(ctx)) }
        let now = clock.now()
        var credential: Substring? = nil
        if let a = req.head.headers.first(name: "authorization"), a.utf8.count > 7,
           a.prefix(7).lowercased() == "bearer " {
            credential = a.dropFirst(7).drop(while: { $0 == " " })
        } else if let k = req.head.headers.first(name: "x-api-key") {
            credential = Substring(k)
        }
        guard let secret = credential, !secret.isEmpty else {
            var r = Response.error(APIError(401, "credential_required", "send the credential as Authorization: Bearer … or X-API-Key"),
                                   allocator: ctx.allocator)
            r.headers.add(contentsOf: Self.challenge)
            return .now(r)
        }
        var ip: IPAddress? = nil
        var ipText: String? = nil
        if let t = req.head.headers.first(name: ctx.replica.config.verify.ipHeader), !AddressHeader.isNoAddress(t) {
            guard let a = IPAddress(t) else {
                return .now(.error(.invalidRequest("\(ctx.replica.config.verify.ipHeader) is not an IPv4 or IPv6 address: '\(Redact.echo(t, max: 45))'"), allocator: ctx.allocator))
            }
            ip = a
            ipText = t
        }
        var text = String(secret)
        switch text.withUTF8({ decide($0, ip: ip, ipText: ipText, now: now, ctx) }) {
        case .done(let verdict):
            return .now(Self.authAnswer(verdict, ctx))
        case .lookUp(let digest, let kind, let bytes):
            return .later(afterLookUp(digest, kind, bytes, ip: ip, ipText: ipText, ctx) { Self.authAnswer($0, ctx) })
        }
    }

    static func authAnswer(_ verdict: Verdict, _ ctx: ResponderContext) -> Response {
        switch verdict {
        case .apiKey(let key, let policy):
            return Response(status: .noContent, headers: HTTPHeaders([
                ("Keygate-Account", key.account), ("Keygate-Kind", "api_key"), ("Keygate-Key-Id", key.id), ("Keygate-Policy", policy.name)]), body: nil)
        case .accessToken(let token, let policy, _):
            var h = HTTPHeaders([("Keygate-Account", token.account), ("Keygate-Kind", "access_token"),
                                 ("Keygate-Client-Id", token.clientID), ("Keygate-Policy", policy.name)])
            if let s = token.scope { h.add(name: "Keygate-Scope", value: s) }
            return Response(status: .noContent, headers: h, body: nil)
        case .refused(.ipNotAllowed):
            return .error(APIError(403, "ip_not_allowed", "the credential may not be used from this address"), allocator: ctx.allocator)
        case .refused(.rateLimited):
            return .error(APIError(429, "rate_limited", "too many failed checks from this address; try again within a minute"),
                          allocator: ctx.allocator, extraHeaders: [("Retry-After", "60")])
        case .refused(let code):
            var r = Response.error(APIError(401, "invalid_token", "the credential is not valid (\(code.rawValue))"), allocator: ctx.allocator)
            r.headers.add(contentsOf: Self.invalidToken)
            return r
        }
    }
}

enum AddressHeader {
    /// nginx sets `$remote_addr` to "unix:" for a client on a Unix socket: that
    /// is a caller without an address, not a malformed request.
    static func isNoAddress(_ value: String) -> Bool { value.isEmpty || value == "unix:" }
}

enum VerdictWriter {
    static func write(_ v: Verdict, into buf: inout ByteBuffer) {
        switch v {
        case .apiKey(let key, let policy):
            let size = 96 + RawWriter.jsonStringBound(key.account) + RawWriter.jsonStringBound(key.id)
                + RawWriter.jsonStringBound(key.name) + RawWriter.jsonStringBound(policy.name)
            buf.writeRaw(maxBytes: size) { w in
                w.append(#"{"valid":true,"kind":"api_key","account":"#)
                w.appendJSONString(key.account)
                w.append(#","key_id":"#)
                w.appendJSONString(key.id)
                w.append(#","name":"#)
                w.appendJSONString(key.name)
                w.append(#","policy":"#)
                w.appendJSONString(policy.name)
                w.append("}")
            }
        case .accessToken(let token, _, let expiresIn):
            let size = 120 + RawWriter.jsonStringBound(token.account) + RawWriter.jsonStringBound(token.clientID)
                + (token.scope.map(RawWriter.jsonStringBound) ?? 0)
            buf.writeRaw(maxBytes: size) { w in
                w.append(#"{"valid":true,"kind":"access_token","account":"#)
                w.appendJSONString(token.account)
                w.append(#","client_id":"#)
                w.appendJSONString(token.clientID)
                if let scope = token.scope {
                    w.append(#","scope":"#)
                    w.appendJSONString(scope)
                }
                w.append(#","expires_in":"#)
                w.appendDecimal(max(0, Int(expiresIn)))
                w.append("}")
            }
        case .refused(let code):
            buf.writeRaw(maxBytes: 64 + code.rawValue.utf8.count) { w in
                w.append(#"{"valid":false,"code":""#)
                w.append(code.rawValue)
                w.append(#""}"#)
            }
        }
    }
}

enum Forbidden {
    static func response(_ ctx: ResponderContext, list: String) -> Response {
        let p = ctx.peer
        var r = Response.error(APIError(403, "forbidden", "access denied: uid \(p.uid) (gid \(p.gid), pid \(p.pid)) is not allowed here; add it to \(list) in \(ctx.replica.config.path)"),
                               allocator: ctx.allocator)
        r.close = true
        return r
    }
}

enum MethodNotAllowed {
    static func response(_ req: Request, allow: String, _ ctx: ResponderContext) -> Response {
        .error(APIError(405, "method_not_allowed", "\(req.head.method) is not allowed on \(Redact.path(req.path)); use \(allow)"),
               allocator: ctx.allocator, extraHeaders: [("Allow", allow)])
    }
}
