import KeygateAPI
import KeygateCore
import NIOCore
import NIOHTTP1

/// The OAuth 2.0 endpoints of the service socket: token (RFC 6749 section 4.4),
/// introspection (RFC 7662) and revocation (RFC 7009).
struct OAuthResponder {
    let engine: Engine
    let clock: Clock
    let limiter: FailureLimiter

    static let noStore = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    /// An OAuth error answer; a failed Basic login also gets the challenge (RFC 6749 section 5.2).
    func error(_ e: APIError, basic: Bool, _ ctx: ResponderContext) -> Response {
        var headers = Self.noStore
        if e.code == "invalid_client" && basic { headers.append(("WWW-Authenticate", #"Basic realm="keygate""#)) }
        return .error(e, allocator: ctx.allocator, extraHeaders: headers)
    }

    /// The form parameters of a POST body; parameters in the query string are refused
    /// so that a client secret never lands in an access log.
    /// The parameters each form endpoint reads, from its schema in the route table.
    static let parameters: [OperationID: Set<String>] = Dictionary(uniqueKeysWithValues: [OperationID.token, .introspect, .revoke].map { op in
        (op, Set(RouteTable.endpoint(op).request?.schema["properties"]?.objectValue?.keys ?? []))
    })

    func form(_ req: Request, _ op: OperationID) throws -> [String: String] {
        if let q = req.query, !q.isEmpty {
            throw APIError.invalidRequest("send parameters in the form-encoded request body, not in the query string")
        }
        let type = req.head.headers.first(name: "content-type")?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError.invalidRequest("the body must be application/x-www-form-urlencoded, got '\(Redact.echo(type, max: 60))'")
        }
        do {
            return try FormURLEncoded.parse(req.body.getBytes(at: req.body.readerIndex, length: req.body.readableBytes) ?? [], known: Self.parameters[op])
        } catch let e as FormURLEncoded.DecodeError {
            throw APIError.invalidRequest("the form body is malformed: \(e)")
        }
    }

    struct ClientAuthFailure: Error {
        var error: APIError
        var basic: Bool
        /// A well-formed client id this host does not know (another host may have made it).
        var unknownID: String? = nil
    }

    /// Client authentication by HTTP Basic or by body parameters, never both.
    func authenticate(_ req: Request, _ params: [String: String], _ ctx: ResponderContext, now: Timestamp) throws -> ClientPair {
        var basic: (id: String, secret: String)? = nil
        let header = req.head.headers.first(name: "authorization")
        let usedBasic = header?.lowercased().hasPrefix("basic ") ?? false
        if let h = header {
            do {
                basic = try BasicCredentials.parse(h)
            } catch {
                throw ClientAuthFailure(error: APIError(401, "invalid_client", "the Basic credentials are not base64 of a form-urlencoded 'id:secret'"), basic: true)
            }
        }
        let bodyID = params["client_id"], bodySecret = params["client_secret"]
        let id: String, secret: String
        if let b = basic {
            if bodySecret != nil {
                throw ClientAuthFailure(error: .invalidRequest("the client authenticated twice: use HTTP Basic or client_id/client_secret in the body, not both"), basic: true)
            }
            if let bid = bodyID, bid != b.id {
                throw ClientAuthFailure(error: .invalidRequest("client_id in the body differs from the one in the Authorization header"), basic: true)
            }
            (id, secret) = b
        } else if let bid = bodyID, let bs = bodySecret {
            (id, secret) = (bid, bs)
        } else {
            throw ClientAuthFailure(error: APIError(401, "invalid_client", "client authentication is required: HTTP Basic, or client_id and client_secret in the body"), basic: usedBasic)
        }
        guard let pair = ClientAuthentication.authenticate(clientID: id, secret: secret, index: ctx.replica.index, now: now) else {
            // The same answer for an unknown id and a wrong secret: nothing to probe.
            throw ClientAuthFailure(error: APIError(401, "invalid_client", "client authentication failed"), basic: usedBasic,
                                    unknownID: ctx.replica.index.clientsByID[id] == nil ? id : nil)
        }
        return pair
    }

    /// The caller's address from the configured header (set by nginx or the local service).
    func callerAddress(_ req: Request, _ ctx: ResponderContext) throws -> IPAddress? {
        let name = ctx.replica.config.verify.ipHeader
        guard let text = req.head.headers.first(name: name), !AddressHeader.isNoAddress(text) else { return nil }
        guard let ip = IPAddress(text.trimmed(" ")) else {
            throw APIError.invalidRequest("\(name) is not an IPv4 or IPv6 address: '\(Redact.echo(text, max: 45))'")
        }
        return ip
    }

    /// The common part of the client-authenticated endpoints: the form, the
    /// per-address limit on failed logins, client authentication; then `body`.
    /// Errors become RFC 6749 section 5.2 answers.
    func clientAuthenticated(_ req: Request, _ op: OperationID, _ ctx: ResponderContext, lookedUp: Bool = false,
                             _ body: @escaping ([String: String], ClientPair, Timestamp) throws -> Reply) -> Reply {
        let now = clock.now()
        var basic = false
        do {
            let params = try form(req, op)
            let caller = (try? callerAddress(req, ctx)) ?? nil
            let pair: ClientPair
            do {
                pair = try authenticate(req, params, ctx, now: now)
            } catch let f as ClientAuthFailure {
                basic = f.basic
                if let id = f.unknownID, !lookedUp, engine.store.sharedWithOtherHosts,
                   !(caller.map { limiter.isLimited($0, limit: ctx.replica.config.verify.failuresPerIP, now: now) } ?? false) {
                    // A pair generated on another host a moment ago: ask the database, then try once more.
                    return .later(engine.lookUpClient(id: id, on: ctx.loop).flatMap { _ in
                        switch self.clientAuthenticated(req, op, ctx, lookedUp: true, body) {
                        case .now(let r): return ctx.loop.makeSucceededFuture(r)
                        case .later(let f): return f
                        }
                    })
                }
                // Past the limit a failed login gets 429 and no hint; a correct one still passes.
                if f.error.code == "invalid_client", let ip = caller {
                    if limiter.isLimited(ip, limit: ctx.replica.config.verify.failuresPerIP, now: now) {
                        return .now(.error(APIError(429, "slow_down", "too many failed client authentications from this address; try again within a minute"),
                                           allocator: ctx.allocator, extraHeaders: Self.noStore + [("Retry-After", "60")]))
                    }
                    limiter.recordFailure(ip, now: now)
                }
                throw f.error
            }
            basic = req.head.headers.contains(name: "authorization")
            return try body(params, pair, now)
        } catch let e as APIError {
            return .now(error(e, basic: basic, ctx))
        } catch {
            return .now(self.error(APIError(400, "invalid_request", "\(error)"), basic: basic, ctx))
        }
    }

    func token(_ req: Request, _ ctx: ResponderContext) -> Reply {
        clientAuthenticated(req, .token, ctx) { params, pair, _ in
            guard let grant = params["grant_type"] else { throw APIError.invalidRequest("grant_type is required; use client_credentials") }
            guard grant == "client_credentials" else {
                throw APIError(400, "unsupported_grant_type", "grant_type '\(Redact.echo(grant, max: 40))' is not supported; use client_credentials")
            }
            let ip = try callerAddress(req, ctx)
            let policy = ctx.replica.config.policies.policy(for: pair.account)
            guard pair.allowIPs.permits(ip), policy.allowIPs.permits(ip) else {
                throw APIError(400, "unauthorized_client", ip.map { "address \($0) is not allowed to use this client" }
                               ?? "this client is restricted by address and the request carries no \(ctx.replica.config.verify.ipHeader)")
            }
            let basic = req.head.headers.contains(name: "authorization")
            return .later(engine.submit(.issueToken(clientID: pair.clientID, scope: params["scope"]), on: ctx.loop).map { result -> Response in
                guard case .token(let t, let secret) = result else { preconditionFailure("issue returns a token") }
                return .wire(.ok, TokenResponse(accessToken: secret, expiresIn: t.expiresAt - t.issuedAt, scope: t.scope), ctx, headers: Self.noStore)
            }.flatMapErrorThrowing { e in
                self.error(APIError(any: e), basic: basic, ctx)
            })
        }
    }

    func introspect(_ req: Request, _ ctx: ResponderContext) -> Reply {
        let now = clock.now()
        let params: [String: String]
        do {
            params = try form(req, .introspect)
        } catch let e as APIError {
            return .now(.error(e, allocator: ctx.allocator))
        } catch {
            return .now(.error(.invalidRequest("\(error)"), allocator: ctx.allocator))
        }
        guard let token = params["token"] else {
            return .now(.error(.invalidRequest("token is required"), allocator: ctx.allocator))
        }
        let answer = IntrospectionResponse(Introspection.inspect(token, index: ctx.replica.index, now: now))
        return .now(.wire(.ok, answer, ctx, headers: Self.noStore))
    }

    func revoke(_ req: Request, _ ctx: ResponderContext) -> Reply {
        clientAuthenticated(req, .revoke, ctx) { params, pair, _ in
            guard let token = params["token"] else { throw APIError.invalidRequest("token is required") }
            guard SecretFormat.classify(token) == .accessToken else {
                return .now(.empty(.ok, headers: Self.noStore))  // RFC 7009 section 2.2: unknown tokens are not an error
            }
            let digest = SecretDigest(of: Array(token.utf8))
            return .later(engine.submit(.revokeToken(clientID: pair.clientID, digest: digest), on: ctx.loop).map { _ in
                .empty(.ok, headers: Self.noStore)
            }.flatMapErrorThrowing { e in
                self.error(APIError(any: e), basic: false, ctx)
            })
        }
    }
}

