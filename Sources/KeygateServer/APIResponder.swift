import KeygateAPI
import KeygateCore
import NIOCore
import NIOHTTP1

/// Both sockets' front door, driven by the route table: the peer's right to
/// the socket first, then the route (404, or 405 with `Allow`), then the
/// operation's role, then the one handler of the operation.
struct APIResponder: Responder {
    let socket: APISocket
    let engine: Engine
    let clock: Clock
    let daemonUID: UInt32
    let service: ServiceHandlers
    let admin: AdminHandlers
    /// This socket's OpenAPI document, rendered once.
    let document: [UInt8]

    init(socket: APISocket, engine: Engine, clock: Clock, daemonUID: UInt32, limiter: FailureLimiter) {
        self.socket = socket
        self.engine = engine
        self.clock = clock
        self.daemonUID = daemonUID
        self.service = ServiceHandlers(engine: engine, clock: clock, limiter: limiter)
        self.admin = AdminHandlers(engine: engine, clock: clock)
        self.document = Array(OpenAPIDocument.text(for: socket).utf8)
    }

    /// The strongest role this peer has on this socket, or nil: refused.
    @inline(__always)
    func peerRole(_ ctx: ResponderContext) -> Role? {
        switch socket {
        case .service:
            guard let allowed = ctx.replica.config.access.verify, ctx.peer.uid != daemonUID else { return .verify }
            return ctx.admits(allowed) ? .verify : nil
        case .admin:
            if ctx.peer.uid == daemonUID || ctx.admits(ctx.replica.config.access.admin) { return .admin }
            return ctx.admits(ctx.replica.config.access.manage) ? .manage : nil
        }
    }

    var socketList: String { socket == .service ? "access.verify" : "access.admin or access.manage" }

    func refusal(_ ctx: ResponderContext) -> Response? {
        peerRole(ctx) == nil ? Forbidden.response(ctx, list: socketList) : nil
    }

    func respond(to req: Request, context ctx: ResponderContext) -> Reply {
        guard let role = peerRole(ctx) else { return .now(Forbidden.response(ctx, list: socketList)) }
        switch RouteTable.match(socket: socket, method: req.head.method, path: req.path) {
        case .notFound:
            return .now(.error(.notFound("no endpoint \(Redact.echo(req.head.method, max: 20)) \(Redact.path(req.path)) on the \(socket.rawValue) socket"),
                               allocator: ctx.allocator))
        case .methodNotAllowed(let allow):
            return .now(MethodNotAllowed.response(req, allow: allow, ctx))
        case .found(let endpoint, let parameters):
            if endpoint.role == .admin && role != .admin { return .now(Forbidden.response(ctx, list: "access.admin")) }
            if !endpoint.takesBody && req.body.readableBytes > 0 {
                return .now(.error(.invalidRequest("\(endpoint.method) \(endpoint.path) takes no request body; got \(req.body.readableBytes) bytes"),
                                   allocator: ctx.allocator))
            }
            return handle(endpoint.id, parameters, req, ctx)
        }
    }

    /// One handler per operation; the switch is exhaustive, so an operation
    /// added to the table without a handler does not compile.
    func handle(_ op: OperationID, _ p: PathParameters, _ req: Request, _ ctx: ResponderContext) -> Reply {
        switch op {
        case .verify: return service.verify(req, ctx)
        case .auth: return service.auth(req, ctx)
        case .healthz: return .now(.wire(.ok, HealthResponse(), ctx))
        case .metrics: return .later(service.metrics(ctx))
        case .token: return service.oauth.token(req, ctx)
        case .introspect: return service.oauth.introspect(req, ctx)
        case .revoke: return service.oauth.revoke(req, ctx)
        case .serviceDocument, .adminDocument:
            var buf = ctx.allocator.buffer(capacity: document.count)
            buf.writeBytes(document)
            return .now(Response(status: .ok, headers: ServiceHandlers.jsonHeaders, body: buf))
        case .status: return .later(admin.status(ctx))
        case .reload: return .later(admin.reload(ctx))
        case .listAccounts: return .later(admin.accounts(ctx))
        case .listKeys: return admin.withAccount(p, ctx) { admin.listKeys($0, ctx) }
        case .createKey: return admin.withAccount(p, ctx) { a in try admin.createKey(a, CreateKeyRequest(json: req.json()).validated(), ctx) }
        case .updateKey:
            return admin.withAccount(p, ctx) { a in
                try admin.updateKey(a, admin.keyID(p), UpdateKeyRequest(json: req.json()).validated(), ctx)
            }
        case .deleteKey: return admin.withAccount(p, ctx) { a in admin.deleteKey(a, try admin.keyID(p), ctx) }
        case .showClient: return admin.withAccount(p, ctx) { admin.showClient($0, ctx) }
        case .generateClient:
            return admin.withAccount(p, ctx) { a in
                let body: JSON? = req.body.readableBytes > 0 ? try req.json() : Optional<JSON>.none
                return admin.generateClient(a, try GenerateClientRequest(json: body).validated(), ctx)
            }
        case .deleteClient: return admin.withAccount(p, ctx) { admin.deleteClient($0, ctx) }
        case .revokeTokens: return admin.withAccount(p, ctx) { admin.revokeTokens($0, ctx) }
        case .rollKey:
            return admin.withAccount(p, ctx) { a in
                let body: JSON? = req.body.readableBytes > 0 ? try req.json() : Optional<JSON>.none
                return admin.rollKey(a, try admin.keyID(p), grace: try RollKeyRequest(json: body).validated(), ctx)
            }
        case .keyUsage: return admin.withAccount(p, ctx) { a in admin.keyUsage(a, try admin.keyID(p), ctx) }
        case .clientUsage: return admin.withAccount(p, ctx) { admin.clientUsage($0, ctx) }
        case .reportLeaks:
            do {
                let request = try LeaksRequest(json: req.json())
                return .later(admin.leaks(try request.validated(), dryRun: request.dryRun, ctx))
            } catch {
                return .now(.error(APIError(any: error), allocator: ctx.allocator))
            }
        }
    }
}

extension Response {
    static func wire<T: WireType>(_ status: HTTPResponseStatus, _ value: T, _ ctx: ResponderContext, headers: [(String, String)] = []) -> Response {
        .json(status, value.json, allocator: ctx.allocator, extraHeaders: headers)
    }
}

extension APIError {
    /// The edge's mapping from the domain's refusals to HTTP (SPEC 5, 6).
    init(_ e: KeygateError) {
        switch e {
        case .invalidArgument(let s):
            self = .invalidRequest(s)
        case .keyRule(.limitReached(let account, let count, let limit, let policy)):
            self.init(409, "key_limit_reached",
                      "account '\(Redact.echo(account))' already holds \(count) API keys; policy '\(policy)' allows at most \(limit). Delete a key first.",
                      extra: ["limit": .int(Int64(limit)), "policy": .string(policy)])
        case .keyRule(.nameTaken(let account, let name)):
            self.init(409, "name_taken", "account '\(Redact.echo(account))' already has a key named '\(name)'")
        case .keyRule(.unknownKey(let account, let id)):
            self = .notFound("account '\(Redact.echo(account))' has no key '\(id)'")
        case .scope(.policyHasNoScopes(let policy)):
            self.init(400, "invalid_scope", "policy '\(policy)' grants no scopes; ask for none")
        case .scope(.notAllowed(let scope, let policy, let allowed)):
            self.init(400, "invalid_scope", "scope '\(Redact.echo(scope, max: 64))' is not granted by policy '\(policy)'; allowed: \(allowed.joined(separator: " "))")
        case .noClient(let account):
            self = .notFound("account '\(Redact.echo(account))' has no client credentials")
        case .invalidClient:
            self.init(401, "invalid_client", "client authentication failed")
        case .storageUnavailable(let s):
            self.init(503, "storage_unavailable", s)
        }
    }

    /// Any failure of a request, as the answer it gets.
    init(any error: Error) {
        switch error {
        case let e as APIError: self = e
        case let e as KeygateError: self.init(e)
        case let e as KeyRuleViolation: self.init(.keyRule(e))
        case let e as ScopeViolation: self.init(.scope(e))
        default: self.init(500, "internal_error", "the request failed")
        }
    }
}
