import KeygateAPI
import KeygateCore
import NIOCore
import NIOHTTP1

/// The admin socket's handlers: wire types in, engine operations, wire types out.
struct AdminHandlers {
    let engine: Engine
    let clock: Clock

    /// Runs `body` with the validated account of the path; refusals become answers.
    func withAccount(_ p: PathParameters, _ ctx: ResponderContext, _ body: (String) throws -> EventLoopFuture<Response>) -> Reply {
        do {
            let account = p["account"]
            // A secret pasted where the account goes is refused without a
            // word of it (not echoed, not listed, not looked up).
            guard !SecretFormat.containsSecretRun(account) else {
                throw APIError.invalidRequest("the account in the path looks like a Keygate secret; never put a secret in a path (it has not been stored or logged)")
            }
            guard AccountName.isValid(account) else {
                throw APIError.invalidRequest("'\(Redact.echo(account, max: 70))' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -")
            }
            return .later(try body(account))
        } catch {
            return .now(.error(APIError(any: error), allocator: ctx.allocator))
        }
    }

    func keyID(_ p: PathParameters) throws -> String {
        let id = p["id"]
        guard Identifier.isKeyID(id) else {
            throw APIError.notFound("'\(Redact.echo(id, max: 40))' is not a key id (key_ and 16 letters or digits)")
        }
        return id
    }

    func status(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.status(on: ctx.loop).map { s in
            .wire(.ok, StatusView(version: KeygateVersion.string, startedAt: engine.startedAt, uptimeSeconds: clock.now() - engine.startedAt,
                                  configPath: s.configPath, configDigest: s.configDigest, loadedAt: s.loadedAt,
                                  accounts: Int64(s.accounts), keys: Int64(s.keys), clients: Int64(s.clients), liveTokens: Int64(s.liveTokens),
                                  storage: StorageStatus(backend: s.feed.backend, feedPosition: s.feed.lag == nil ? nil : s.feed.position,
                                                         feedLagSeconds: s.feed.lag, stale: s.feed.lag == nil ? nil : s.feed.stale,
                                                         lookups: s.feed.lag == nil ? nil : Int64(s.feed.lookups))), ctx)
        }
    }

    func reload(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.reload(on: ctx.loop).map { o in
            if !o.errors.isEmpty {
                return .error(APIError(422, "invalid_configuration", "the configuration has \(o.errors.count) error(s); the running configuration stays",
                                       extra: ["errors": .array(o.errors.map(JSON.string))]), allocator: ctx.allocator)
            }
            return .wire(.ok, ReloadResult(digest: o.digest, takesEffectAtRestart: o.restartRequired), ctx)
        }
    }

    func accounts(_ ctx: ResponderContext) -> EventLoopFuture<Response> {
        let now = clock.now()
        return engine.read(on: ctx.loop) { e in
            let live = e.master.liveTokenCounts(now: now)
            return AccountList(accounts: e.master.accounts.map { a in
                AccountSummary(account: a, policy: e.config.policies.policy(for: a).name, keys: Int64(e.master.keyCount(account: a)),
                               clientID: e.master.currentClient(account: a)?.clientID, liveTokens: Int64(live[a] ?? 0))
            })
        }.map { .wire(.ok, $0, ctx) }
    }

    func listKeys(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.keys(account: account, on: ctx.loop).map { keys in
            let now = clock.now()
            return .wire(.ok, KeyList(account: account, keys: keys.map { KeyView($0, now: now) }), ctx)
        }
    }

    func createKey(_ account: String, _ key: NewKey, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.createKey(account: account, key), on: ctx.loop).map { r in
            guard case .key(let key, let secret?) = r else { preconditionFailure("create returns the new key") }
            let location = RouteTable.endpoint(.updateKey).path(["account": account, "id": key.id])
            return .wire(.created, CreatedKey(key: KeyView(key, now: clock.now()), account: account, secret: secret), ctx,
                         headers: [("Cache-Control", "no-store"), ("Location", location)])
        }
    }

    func updateKey(_ account: String, _ id: String, _ change: KeyChange, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.updateKey(account: account, id: id, change), on: ctx.loop).map { r in
            guard case .key(let key, _) = r else { preconditionFailure("update returns the key") }
            return .wire(.ok, KeyView(key, now: clock.now()), ctx)
        }
    }

    func deleteKey(_ account: String, _ id: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.deleteKey(account: account, id: id), on: ctx.loop).map { _ in .empty(.noContent) }
    }

    func rollKey(_ account: String, _ id: String, grace: Int64?, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        let before = engine.read(on: ctx.loop) { $0.master.key(id: id)?.hint }
        return before.flatMap { previousHint in
            engine.submit(.rollKey(account: account, id: id, grace: grace), on: ctx.loop).map { r in
                guard case .key(let key, let secret?) = r else { preconditionFailure("roll returns the key") }
                let until = key.rollingUntil ?? key.createdAt
                return .wire(.created, RolledKey(key: KeyView(key, now: clock.now()), account: account, secret: secret,
                                                 previousHint: previousHint ?? "", previousAcceptedUntil: until), ctx,
                             headers: [("Cache-Control", "no-store")])
            }
        }
    }

    func keyUsage(_ account: String, _ id: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.read(on: ctx.loop) { e -> Bool in e.master.key(id: id)?.account == account }.flatMap { known in
            guard known else {
                return ctx.loop.makeFailedFuture(KeygateError.keyRule(.unknownKey(account: account, id: id)))
            }
            return engine.usage(of: .key(id), on: ctx.loop).map { days in
                .wire(.ok, Self.report(account: account, key: id, client: nil, days: days, now: clock.now()), ctx)
            }
        }
    }

    func clientUsage(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.read(on: ctx.loop) { $0.master.currentClient(account: account)?.clientID }.flatMap { cid in
            guard let cid else { return ctx.loop.makeFailedFuture(KeygateError.noClient(account: account)) }
            return engine.usage(of: .client(cid), on: ctx.loop).map { days in
                .wire(.ok, Self.report(account: account, key: nil, client: cid, days: days, now: clock.now()), ctx)
            }
        }
    }

    static func report(account: String, key: String?, client: String?, days: [UsageDay], now: Timestamp) -> UsageReport {
        UsageReport(account: account, keyID: key, clientID: client,
                    from: UsageWindow.date(ofDay: UsageWindow.firstDay(at: now)), to: UsageWindow.date(ofDay: UsageWindow.day(of: now)),
                    days: days.map { UsageDayView($0, client: client != nil) })
    }

    func leaks(_ secrets: [LeakedSecret], dryRun: Bool, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.leaks(secrets, dryRun: dryRun), on: ctx.loop).map { r in
            guard case .leaks(let outcomes) = r else { preconditionFailure("leaks returns outcomes") }
            return .wire(.ok, LeakReport(dryRun: dryRun, results: outcomes.map(LeakResult.init)), ctx, headers: [("Cache-Control", "no-store")])
        }
    }

    func showClient(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        let now = clock.now()
        return engine.read(on: ctx.loop) { e -> ClientView? in
            guard let pair = e.master.currentClient(account: account) else { return nil }
            let retiring = e.master.clientsByID.values.filter { $0.account == account && $0.retiresAt != nil && !$0.isRetired(at: now) }
                .sorted { $0.createdAt < $1.createdAt }
            return ClientView(pair, liveTokens: e.master.liveTokenCount(account: account, now: now),
                              retiring: retiring.map { ClientView($0, liveTokens: nil) })
        }.flatMapThrowing { view in
            guard let view else { throw KeygateError.noClient(account: account) }
            return .wire(.ok, view, ctx)
        }
    }

    func generateClient(_ account: String, _ req: (allowIPs: IPAllowList, grace: Int64?), _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.generateClient(account: account, allowIPs: req.allowIPs, grace: req.grace), on: ctx.loop).map { r in
            guard case .client(let pair, let secret, let previous) = r else { preconditionFailure("generate returns a pair") }
            let answer = GeneratedClient(client: ClientView(pair, liveTokens: nil), secret: secret, previousClientID: previous?.clientID,
                                         previousRetiresAt: previous.map { $0.retiresAt ?? pair.createdAt })
            return .wire(.created, answer, ctx, headers: [("Cache-Control", "no-store")])
        }
    }

    func deleteClient(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.deleteClient(account: account), on: ctx.loop).map { _ in .empty(.noContent) }
    }

    func revokeTokens(_ account: String, _ ctx: ResponderContext) -> EventLoopFuture<Response> {
        engine.submit(.revokeAccountTokens(account: account), on: ctx.loop).map { r in
            guard case .count(let n) = r else { preconditionFailure("revoke returns a count") }
            return .wire(.ok, TokensRevoked(account: account, revoked: Int64(n)), ctx)
        }
    }
}
