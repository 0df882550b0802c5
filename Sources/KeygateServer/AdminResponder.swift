import KeygateAPI
import KeygateConfig
import KeygateCore
import NIOCore
import NIOHTTP1

/// The admin socket: one route table; every request is checked against the
/// peer's credentials before anything else.
struct AdminResponder: Responder {
    let engine: Engine
    let clock: Clock
    let daemonUID: UInt32

    enum Role { case admin, manage }

    func role(_ ctx: ResponderContext) -> Role? {
        let access = ctx.replica.config.access
        if ctx.peer.uid == daemonUID || ctx.admits(access.admin) { return .admin }
        if ctx.admits(access.manage) { return .manage }
        return nil
    }

    func respond(to req: Request, context ctx: ResponderContext) -> Reply {
        guard let role = role(ctx) else {
            return .now(Forbidden.response(ctx, list: "access.admin or access.manage"))
        }
        let parts = req.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let m = req.head.method
        do {
            switch Array(parts) {
            case ["v1", "status"]:
                guard m == .GET else { return .now(MethodNotAllowed.response(req, allow: "GET", ctx)) }
                return .later(status(ctx))
            case ["v1", "reload"]:
                guard m == .POST else { return .now(MethodNotAllowed.response(req, allow: "POST", ctx)) }
                guard role == .admin else {
                    return .now(Forbidden.response(ctx, list: "access.admin"))
                }
                return .later(reload(ctx))
            case ["v1", "accounts"]:
                guard m == .GET else { return .now(MethodNotAllowed.response(req, allow: "GET", ctx)) }
                return .later(accounts(ctx))
            case let p where p.count == 4 && p[0] == "v1" && p[1] == "accounts" && p[3] == "keys":
                let account = try accountName(p[2])
                switch m {
                case .GET: return .later(listKeys(account, ctx))
                case .POST:
                    try refuseSecretShapedAccount(account)
                    return .later(createKey(account, try CreateKeyRequest(json: req.json()), ctx))
                default: return .now(MethodNotAllowed.response(req, allow: "GET, POST", ctx))
                }
            case let p where p.count == 4 && p[0] == "v1" && p[1] == "accounts" && p[3] == "client":
                let account = try accountName(p[2])
                switch m {
                case .GET: return .later(showClient(account, ctx))
                case .POST:
                    try refuseSecretShapedAccount(account)
                    let body: JSON? = req.body.readableBytes > 0 ? try req.json() : Optional<JSON>.none
                    return .later(generateClient(account, try GenerateClientRequest(json: body), ctx))
                case .DELETE: return .later(engine.submit(.deleteClient(account: account), on: ctx.loop).map { _ in .empty(.noContent) })
                default: return .now(MethodNotAllowed.response(req, allow: "GET, POST, DELETE", ctx))
                }
            case let p where p.count == 5 && p[0] == "v1" && p[1] == "accounts" && p[3] == "tokens" && p[4] == "revoke":
                let account = try accountName(p[2])
                guard m == .POST else { return .now(MethodNotAllowed.response(req, allow: "POST", ctx)) }
                return .later(engine.submit(.revokeAccountTokens(account: account), on: ctx.loop).map { r in
                    guard case .count(let n) = r else { preconditionFailure("revoke returns a count") }
                    return .json(.ok, ["account": .string(account), "revoked": .int(Int64(n))], allocator: ctx.allocator)
                })
            case let p where p.count == 5 && p[0] == "v1" && p[1] == "accounts" && p[3] == "keys":
                let account = try accountName(p[2])
                let id = String(p[4])
                guard Identifier.isKeyID(id) else {
                    throw APIError.notFound("'\(Redact.echo(id, max: 40))' is not a key id (key_ and 16 letters or digits)")
                }
                switch m {
                case .PATCH: return .later(updateKey(account, id, try UpdateKeyRequest(json: req.json()), ctx))
                case .DELETE: return .later(deleteKey(account, id, ctx))
                default: return .now(MethodNotAllowed.response(req, allow: "PATCH, DELETE", ctx))
                }
            default:
                throw APIError.notFound("no endpoint \(req.head.method.rawValue) \(Redact.path(req.path)) on the admin socket")
            }
        } catch let e as APIError {
            return .now(.error(e, allocator: ctx.allocator))
        } catch {
            return .now(.error(.invalidRequest("\(error)"), allocator: ctx.allocator))
        }
    }

    /// A new account is never named after a secret: a key pasted into the
    /// account argument would otherwise be stored, listed and logged.
    func refuseSecretShapedAccount(_ account: String) throws {
        if SecretFormat.containsSecretShape(account) {
            throw APIError.invalidRequest("the account name looks like a Keygate secret; refusing to store it as a name")
        }
    }

    func accountName(_ s: Substring) throws -> String {
        guard AccountName.isValid(s) else {
            throw APIError.invalidRequest("'\(Redact.echo(s, max: 70))' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -")
        }
        return String(s)
    }

    // MARK: handlers

    func status(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.status(on: ctx.loop).map { s in
            let now = clock.now()
            let body: JSON = [
                "version": .string(KeygateVersion.string),
                "started_at": .string(TimeText.format(engine.startedAt)),
                "uptime_seconds": .int(now - engine.startedAt),
                "config": ["path": .string(s.configPath), "sha256": .string(s.configDigest),
                           "loaded_at": .string(TimeText.format(s.loadedAt))],
                "counts": ["accounts": .int(Int64(s.accounts)), "keys": .int(Int64(s.keys)),
                           "clients": .int(Int64(s.clients)), "live_tokens": .int(Int64(s.liveTokens))],
            ]
            return .json(.ok, body, allocator: ctx.allocator)
        }
    }

    func reload(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.reload(on: ctx.loop).map { o in
            if !o.errors.isEmpty {
                let e = APIError(422, "invalid_configuration", "the configuration has \(o.errors.count) error(s); the running configuration stays",
                                 extra: ["errors": .array(o.errors.map(JSON.string))])
                return .error(e, allocator: ctx.allocator)
            }
            return .json(.ok, ["reloaded": true, "sha256": .string(o.digest),
                               "takes_effect_at_restart": .array(o.restartRequired.map(JSON.string))], allocator: ctx.allocator)
        }
    }

    func accounts(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        let now = clock.now()
        return engine.read(on: ctx.loop) { e -> JSON in
            let live = e.master.liveTokenCounts(now: now)
            let list: [JSON] = e.master.accounts.map { a in
                ["account": .string(a), "policy": .string(e.config.policies.policy(for: a).name),
                 "keys": .int(Int64(e.master.keyCount(account: a))),
                 "client_id": e.master.currentClient(account: a).map { .string($0.clientID) } ?? .null,
                 "live_tokens": .int(Int64(live[a] ?? 0))]
            }
            return ["accounts": .array(list)]
        }.map { .json(.ok, $0, allocator: ctx.allocator) }
    }

    func listKeys(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.keys(account: account, on: ctx.loop).map { keys in
            .json(.ok, ["account": .string(account), "keys": .array(keys.map { .object(KeyView($0).json) })], allocator: ctx.allocator)
        }
    }

    func createKey(_ account: String, _ req: CreateKeyRequest, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.createKey(account: account, req), on: ctx.loop).map { r in
            guard case .key(let key, let secret?) = r else { preconditionFailure("create returns the new key") }
            var body = KeyView(key).json
            body["account"] = .string(account)
            body["key"] = .string(secret)
            return .json(.created, .object(body), allocator: ctx.allocator,
                         extraHeaders: [("Cache-Control", "no-store"), ("Location", Route.key(account, key.id))])
        }
    }

    func updateKey(_ account: String, _ id: String, _ req: UpdateKeyRequest, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.updateKey(account: account, id: id, req), on: ctx.loop).map { r in
            guard case .key(let key, _) = r else { preconditionFailure("update returns the key") }
            return .json(.ok, .object(KeyView(key).json), allocator: ctx.allocator)
        }
    }

    func showClient(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        let now = clock.now()
        return engine.read(on: ctx.loop) { e -> JSON? in
            guard let pair = e.master.currentClient(account: account) else { return nil }
            var o = ClientView.json(pair, liveTokens: e.master.liveTokenCount(account: account, now: now))
            let retiring = e.master.clientsByID.values.filter { $0.account == account && $0.retiresAt != nil && !$0.isRetired(at: now) }
            if !retiring.isEmpty { o["retiring"] = .array(retiring.map { .object(ClientView.json($0, liveTokens: nil)) }) }
            return .object(o)
        }.flatMapThrowing { j in
            guard let j else { throw APIError.notFound("account '\(account)' has no client credentials") }
            return .json(.ok, j, allocator: ctx.allocator)
        }
    }

    func generateClient(_ account: String, _ req: GenerateClientRequest, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.generateClient(account: account, allowIPs: req.allowIPs, grace: req.grace), on: ctx.loop).map { r in
            guard case .client(let pair, let secret, let previous) = r else { preconditionFailure("generate returns a pair") }
            var o = ClientView.json(pair, liveTokens: nil)
            o["client_secret"] = .string(secret)
            if let p = previous {
                o["previous_client_id"] = .string(p.clientID)
                o["previous_retires_at"] = .string(TimeText.format(p.retiresAt ?? pair.createdAt))
            }
            return .json(.created, .object(o), allocator: ctx.allocator, extraHeaders: [("Cache-Control", "no-store")])
        }
    }

    func deleteKey(_ account: String, _ id: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.deleteKey(account: account, id: id), on: ctx.loop).map { _ in .empty(.noContent) }
    }
}
