import Dispatch
import KeygateAPI
import KeygateConfig
import KeygateCore
import KeygateStore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// What a request asks the writer to change.
enum Operation: Sendable {
    case createKey(account: String, NewKey)
    case updateKey(account: String, id: String, KeyChange)
    case deleteKey(account: String, id: String)
    /// A new secret for the key; the old one is accepted for `grace` seconds (nil: not at all).
    case rollKey(account: String, id: String, grace: Int64?)
    /// SPEC 12: what each leaked secret is, and (unless `dryRun`) the end of the live ones.
    case leaks([LeakedSecret], dryRun: Bool)
    case generateClient(account: String, allowIPs: IPAllowList, grace: Int64?)
    case deleteClient(account: String)
    case revokeAccountTokens(account: String)
    /// `scope` as asked for (space-separated), nil: every scope of the policy.
    case issueToken(clientID: String, scope: String?)
    /// RFC 7009: revoke `digest` if `clientID` issued it; quietly nothing otherwise.
    case revokeToken(clientID: String, digest: SecretDigest)
}

enum OperationResult: Sendable {
    case key(APIKey, secret: String?)
    case client(ClientPair, secret: String, previous: ClientPair?)
    case token(AccessToken, secret: String)
    case count(Int)
    case leaks([LeakOutcome])
    case done
}

/// The single writer. Mutations queue up; each drain validates them one by one
/// against the authoritative state, commits the whole batch in one store
/// transaction (one fsync), pushes the changes to every event loop's replica,
/// and only then answers the callers. It speaks the domain: operations in,
/// `OperationResult` or `KeygateError` out; HTTP is the responders' business.
public final class Engine: @unchecked Sendable {
    let queue = DispatchQueue(label: "keygate.writer")
    let store: CredentialStore
    let clock: Clock
    let logger: Logger
    public let startedAt: Timestamp

    // Confined to `queue`.
    private(set) var master: CredentialIndex
    private(set) var config: KeygateConfiguration
    private(set) var configLoadedAt: Timestamp
    private var dirtyUsage: [String: KeyUse] = [:]
    /// Usage counters absorbed from the replicas (and tokens issued) that are
    /// not on disk yet; written with the next commit or on the usage timer.
    private var dirtyCounts: UsageCounts = [:]
    /// Set when a commit failed and the authoritative state could not be read
    /// back from disk: no mutation is accepted until it can be.
    private var masterIsStale = false
    private var tokensIssued = 0
    private var reloadsOK = 0
    private var reloadsFailed = 0

    private(set) var replicas: [Replica] = []
    private let replicaByLoop: [ObjectIdentifier: Replica]

    private struct Pending {
        var op: Operation
        var promise: EventLoopPromise<OperationResult>
    }
    private let lock = NIOLock()
    private var pending: [Pending] = []
    private var draining = false

    public init(config: KeygateConfiguration, store: CredentialStore, loops: [EventLoop], clock: Clock, logger: Logger) throws {
        self.config = config
        self.store = store
        self.clock = clock
        self.logger = logger
        let snap = try store.loadAll()
        let index = CredentialIndex(keys: snap.keys, clients: snap.clients, tokens: snap.tokens)
        self.master = index
        self.startedAt = clock.now()
        self.configLoadedAt = startedAt
        let replicas = loops.map { Replica(loop: $0, config: config, index: index) }
        self.replicas = replicas
        self.replicaByLoop = Dictionary(uniqueKeysWithValues: replicas.map { (ObjectIdentifier($0.loop), $0) })
        logger.info("state loaded", metadata: ["keys": "\(snap.keys.count)", "clients": "\(snap.clients.count)", "tokens": "\(snap.tokens.count)", "database": "\(store.location)"])
        for r in replicas {
            r.usageSink = { [weak self] uses, counts in self?.absorb(uses, counts) }
            r.loop.execute { r.startTallying() }
        }
    }

    func replica(for loop: EventLoop) -> Replica {
        guard let r = replicaByLoop[ObjectIdentifier(loop)] else {
            preconditionFailure("event loop without a replica")
        }
        return r
    }

    // MARK: mutations

    func submit(_ op: Operation, on loop: EventLoop) -> EventLoopFuture<OperationResult> {
        let promise = loop.makePromise(of: OperationResult.self)
        let start = lock.withLock { () -> Bool in
            pending.append(Pending(op: op, promise: promise))
            if draining { return false }
            draining = true
            return true
        }
        if start { queue.async { self.drain() } }
        return promise.futureResult
    }

    /// One batch per turn of the writer queue: whatever queued up meanwhile is
    /// the next batch, after the reads, sweeps and watchdog pings queued before
    /// it, so a steady stream of writes never starves them.
    static let tokensPerClientPerBatch = 8

    private func drain() {
        let batch = lock.withLock { () -> [Pending] in
            // Fair shares: at most `tokensPerClientPerBatch` issuances of one
            // client in a commit; the rest wait for the next, in order, so a
            // client asking in a loop on many connections cannot take the
            // whole write budget from the others.
            var take: [Pending] = [], keep: [Pending] = []
            var perClient: [String: Int] = [:]
            for p in pending {
                if case .issueToken(let cid, _) = p.op {
                    let n = perClient[cid, default: 0]
                    if n >= Self.tokensPerClientPerBatch { keep.append(p); continue }
                    perClient[cid] = n + 1
                }
                take.append(p)
            }
            pending = keep
            if take.isEmpty { draining = false }
            return take
        }
        if batch.isEmpty { return }
        defer { queue.async { self.drain() } }
        if masterIsStale && !reloadMasterFromDisk() {
            let failure = KeygateError.storageUnavailable("the state database cannot be read; nothing was changed")
            for p in batch { p.promise.fail(failure) }
            return
        }
        var changes: [StateChange] = []
        var foreign: [StateChange] = []
        var results: [Result<OperationResult, Error>] = []
        let usage = Array(dirtyUsage.values)
        let counts = countsToWrite()
        do {
            // With several hosts, the store first hands over what the others
            // committed (under the write lock), so validation sees it all.
            try store.transaction(usage: usage, counts: counts) { others in
                foreign = self.applyForeign(others)
                let now = self.clock.now()
                for p in batch {
                    do {
                        let (result, change) = try self.execute(p.op, now: now)
                        for c in change { self.master.apply(c) }
                        changes += change
                        results.append(.success(result))
                    } catch let v as KeyRuleViolation {
                        results.append(.failure(KeygateError.keyRule(v)))
                    } catch let v as ScopeViolation {
                        results.append(.failure(KeygateError.scope(v)))
                    } catch {
                        results.append(.failure(error))
                    }
                }
                return changes
            }
            if !changes.isEmpty || store.sharedWithOtherHosts {
                dirtyUsage = [:]
                dirtyCounts = [:]  // nothing else runs on the queue meanwhile
            }
            feedContact = clock.now()
        } catch {
            logger.error("state database write failed; nothing was changed", metadata: ["error": "\(error)"])
            // The batch was applied to `master` as it was validated; the database is the truth.
            masterIsStale = !reloadMasterFromDisk()
            let failure = KeygateError.storageUnavailable("the state database could not be written; nothing was changed")
            for p in batch { p.promise.fail(failure) }
            return
        }
        for c in changes {
            if case .tokenIssued(let t) = c {
                tokensIssued += 1
                dirtyCounts[UsageCell(subject: .client(t.clientID), day: UsageWindow.day(of: t.issuedAt), result: .tokenIssued), default: 0] += 1
            }
            audit(c)
        }
        for r in results {
            if case .success(.leaks(let outcomes)) = r { auditLeaks(outcomes) }
        }
        let answers = Array(zip(batch.map(\.promise), results))
        broadcast(foreign + changes).whenComplete { _ in
            for (promise, result) in answers { promise.completeWith(result) }
        }
    }

    /// One log line per committed change to who may get in: ids, names and
    /// accounts, never a secret or a digest. Token traffic is logged at debug.
    private func audit(_ c: StateChange) {
        switch c {
        case .keyCreated(let k):
            logger.info("key created", metadata: ["account": "\(k.account)", "key_id": "\(k.id)", "name": "\(k.name)",
                                                  "allow_ips": "\(k.allowIPs.networks.isEmpty ? "any" : k.allowIPs.networks.map(\.description).joined(separator: ","))"])
        case .keyUpdated(let k):
            logger.info("key updated", metadata: ["account": "\(k.account)", "key_id": "\(k.id)", "name": "\(k.name)"])
        case .keyDeleted(let id):
            logger.info("key deleted", metadata: ["key_id": "\(id)"])
        case .keyRolled(let k):
            logger.info("key rolled", metadata: ["account": "\(k.account)", "key_id": "\(k.id)", "name": "\(k.name)", "hint": "\(k.hint)",
                                                 "previous_accepted_until": "\(k.rollingUntil.map(TimeText.format) ?? "now")"])
        case .clientReplaced(let p, let retiresAt):
            logger.info("client credentials generated", metadata: ["account": "\(p.account)", "client_id": "\(p.clientID)",
                                                                   "previous_retires_at": "\(retiresAt.map(String.init) ?? "now")"])
        case .clientDeleted(let account):
            logger.info("client credentials deleted", metadata: ["account": "\(account)"])
        case .tokensRevoked(let d):
            logger.info("access tokens revoked", metadata: ["count": "\(d.count)"])
        case .tokenIssued(let t):
            logger.debug("access token issued", metadata: ["account": "\(t.account)", "client_id": "\(t.clientID)"])
        case .tokensDropped(let d):
            logger.debug("oldest access tokens dropped over max_live_per_client", metadata: ["count": "\(d.count)"])
        case .purged:
            break
        }
    }

    /// One line per leaked secret that was ended: its hint and account, never the secret.
    private func auditLeaks(_ outcomes: [LeakOutcome]) {
        for o in outcomes where o.action != .none && !o.dryRun && !o.repeated {
            var meta: Logger.Metadata = ["kind": "\(o.kind.name)", "hint": "\(o.hint)", "account": "\(o.account ?? "")", "action": "\(o.action.rawValue)"]
            if let id = o.keyID { meta["key_id"] = "\(id)" }
            if let id = o.clientID { meta["client_id"] = "\(id)" }
            logger.notice("leaked secret reported", metadata: meta)
        }
    }

    private func broadcast(_ changes: [StateChange]) -> EventLoopFuture<Void> {
        let loop = replicas[0].loop
        if changes.isEmpty { return loop.makeSucceededVoidFuture() }
        let futures = replicas.map { r in r.loop.submit { r.apply(changes) } }
        return EventLoopFuture.andAllSucceed(futures, on: loop)
    }

    /// Rebuilds the authoritative state from the database and hands the same
    /// state to every replica, so that none keeps what the disk does not have.
    private func reloadMasterFromDisk() -> Bool {
        do {
            let snap = try store.loadAll()
            master = CredentialIndex(keys: snap.keys, clients: snap.clients, tokens: snap.tokens)
            if masterIsStale || feedFailing { logger.notice("the state database can be read again; accepting changes") }
            masterIsStale = false
            feedFailing = false
            feedContact = clock.now()
            let fresh = master
            for r in replicas { r.loop.execute { r.replace(index: fresh) } }
            return true
        } catch {
            // Once per outage, not once per retry.
            if !masterIsStale {
                logger.critical("cannot read the state database back; refusing changes until it can be read", metadata: ["error": "\(error)"])
            }
            return false
        }
    }

    /// Validates one operation against the authoritative state and returns the
    /// changes it makes. Nothing is applied here.
    private func execute(_ op: Operation, now: Timestamp) throws -> (OperationResult, [StateChange]) {
        switch op {
        case .createKey(let account, let req):
            try AccountName.validateNew(account)
            try KeyRules.checkCreate(account: account, name: req.name, index: master, policy: config.policies.policy(for: account), now: now)
            let secret = SecretFormat.generate(.apiKey)
            let key = APIKey(id: Identifier.keyID(), account: account, name: req.name, digest: SecretDigest(of: Array(secret.utf8)),
                             hint: SecretFormat.hint(secret), allowIPs: req.allowIPs, createdAt: now,
                             expiresAt: req.expiresIn.map { now + $0 })
            return (.key(key, secret: secret), [.keyCreated(key)])
        case .updateKey(let account, let id, let req):
            var key = try KeyRules.checkUpdate(account: account, id: id, newName: req.name, index: master)
            if let name = req.name { key.name = name }
            if let ips = req.allowIPs { key.allowIPs = ips }
            return (.key(key, secret: nil), [.keyUpdated(key)])
        case .deleteKey(let account, let id):
            let key = try KeyRules.checkUpdate(account: account, id: id, newName: nil, index: master)
            return (.done, [.keyDeleted(id: key.id)])
        case .rollKey(let account, let id, let grace):
            var key = try KeyRules.checkUpdate(account: account, id: id, newName: nil, index: master)
            if key.isExpired(at: now) {
                throw KeygateError.invalidArgument("key '\(id)' of account '\(account)' has expired; create a new key instead")
            }
            let secret = SecretFormat.generate(.apiKey)
            // A roll during a grace ends the older secret's grace at once: only
            // the secret just replaced stays accepted.
            key.previousDigest = key.digest
            // Time is kept in whole seconds and `now` is the start of this one:
            // one more second makes the overlap at least the grace asked for.
            key.rollingUntil = grace.map { now + $0 + 1 } ?? now
            key.digest = SecretDigest(of: Array(secret.utf8))
            key.hint = SecretFormat.hint(secret)
            return (.key(key, secret: secret), [.keyRolled(key)])
        case .leaks(let secrets, let dryRun):
            var plan = LeakPlan(index: master, now: now, dryRun: dryRun)
            let outcomes = secrets.map { plan.handle($0) }
            return (.leaks(outcomes), dryRun ? [] : plan.changes)
        case .generateClient(let account, let allowIPs, let grace):
            try AccountName.validateNew(account)
            let previous = master.currentClient(account: account)
            let secret = SecretFormat.generate(.clientSecret)
            let pair = ClientPair(clientID: Identifier.clientID(), account: account, secretDigest: SecretDigest(of: Array(secret.utf8)),
                                  allowIPs: allowIPs, createdAt: now)
            let retiresAt = previous == nil ? nil : grace.map { now + $0 }
            var old = previous
            old?.retiresAt = retiresAt ?? now
            return (.client(pair, secret: secret, previous: old), [.clientReplaced(pair, previousRetiresAt: retiresAt)])
        case .deleteClient(let account):
            guard master.currentClient(account: account) != nil || master.clientsByID.values.contains(where: { $0.account == account }) else {
                throw KeygateError.noClient(account: account)
            }
            return (.done, [.clientDeleted(account: account)])
        case .revokeAccountTokens(let account):
            let digests = TokenRules.liveTokens(account: account, index: master, now: now)
            return (.count(digests.count), digests.isEmpty ? [] : [.tokensRevoked(digests)])
        case .issueToken(let clientID, let asked):
            guard let pair = master.clientsByID[clientID], !pair.isRetired(at: now) else {
                throw KeygateError.invalidClient
            }
            let policy = config.policies.policy(for: pair.account)
            let scope = try TokenRules.grantedScope(asked: asked, policy: policy)
            let secret = SecretFormat.generate(.accessToken)
            let token = AccessToken(digest: SecretDigest(of: Array(secret.utf8)), clientID: clientID, account: pair.account,
                                    scope: scope, issuedAt: now, expiresAt: now + policy.tokenTTL)
            var changes: [StateChange] = []
            let evict = TokenRules.tokensToEvict(clientID: clientID, index: master, now: now, maxLive: config.tokens.maxLivePerClient)
            if !evict.isEmpty { changes.append(.tokensDropped(evict)) }
            changes.append(.tokenIssued(token))
            return (.token(token, secret: secret), changes)
        case .revokeToken(let clientID, let digest):
            guard let t = master.tokensByDigest[digest], t.clientID == clientID, !t.revoked else { return (.count(0), []) }
            return (.count(1), [.tokensRevoked([digest])])
        }
    }

    // MARK: other hosts

    /// When the change feed was last read successfully (writer queue).
    private var feedContact: Timestamp = 0
    private var stale = false
    /// Reading the feed failed last time: log the next failure no more.
    private var feedFailing = false
    private var lookupsTotal = 0, lookupsFound = 0, lookupsShed = 0
    private let lookupLock = NIOLock()
    private var lookupsInFlight = 0
    /// Secrets the database did not know, by digest: asked again only after `negativeTTL`.
    private var notFound: [SecretDigest: Timestamp] = [:]
    static let maxLookupsInFlight = 8
    static let negativeTTL: Int64 = 30
    static let maxNotFound = 100_000

    /// Applies other hosts' changes to the authoritative state; a key's last
    /// use stays this host's own.
    private func applyForeign(_ changes: [StateChange]) -> [StateChange] {
        changes.map { c in
            var c = c
            if case .keyUpdated(var k) = c, let old = master.key(id: k.id) {
                k.lastUsedAt = old.lastUsedAt
                k.lastUsedIP = old.lastUsedIP
                c = .keyUpdated(k)
            } else if case .keyRolled(var k) = c, let old = master.key(id: k.id) {
                k.lastUsedAt = old.lastUsedAt
                k.lastUsedIP = old.lastUsedIP
                c = .keyRolled(k)
            }
            master.apply(c)
            return c
        }
    }

    /// Reads the change feed and hands what other hosts committed to every
    /// replica. Runs on the writer queue: on NOTIFY, on the feed timer.
    func catchUp() {
        queue.async {
            guard self.store.sharedWithOtherHosts, !self.masterIsStale else {
                if self.masterIsStale { _ = self.reloadMasterFromDisk() }
                return
            }
            do {
                let foreign = self.applyForeign(try self.store.changesFromOthers())
                self.feedContact = self.clock.now()
                if self.feedFailing { self.logger.notice("the change feed is read again") }
                self.feedFailing = false
                if !foreign.isEmpty { _ = self.broadcast(foreign) }
            } catch is FeedGap {
                self.logger.warning("this host missed more of the change feed than it keeps; reloading the whole state")
                _ = self.reloadMasterFromDisk()
            } catch {
                if !self.feedFailing {
                    self.logger.warning("cannot read the change feed; verification goes on from memory", metadata: ["error": "\(error)"])
                }
                self.feedFailing = true
            }
            self.checkStaleness()
        }
    }

    /// With `storage.max_staleness`, verification is refused while the feed
    /// is older than that; runs on the writer queue.
    private func checkStaleness() {
        let limit = config.storage.maxStaleness
        let now = clock.now()
        let isStale = limit > 0 && store.sharedWithOtherHosts && now - feedContact > limit
        guard isStale != stale else { return }
        stale = isStale
        if isStale {
            logger.error("the change feed is older than storage.max_staleness; refusing verifications until it is read again",
                         metadata: ["max_staleness": "\(limit)s"])
        } else {
            logger.notice("the change feed is read again; verifying")
        }
        for r in replicas { r.loop.execute { r.stale = isStale } }
    }

    private var feedTimer: DispatchSourceTimer?

    /// Polls the feed every second besides NOTIFY, so that a lost notification
    /// costs at most a second and staleness is noticed.
    public func startFeed() {
        guard store.sharedWithOtherHosts else { return }
        queue.async {
            self.feedContact = self.clock.now()
            let t = DispatchSource.makeTimerSource(queue: self.queue)
            t.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1), leeway: .milliseconds(100))
            t.setEventHandler { [weak self] in self?.catchUp() }
            t.resume()
            self.feedTimer = t
        }
    }

    public func stopFeed() { queue.sync { feedTimer?.cancel(); feedTimer = nil } }

    /// A well-formed secret this host does not know may have been created on
    /// another host a moment ago: ask the database, after reading the feed up
    /// to now (so nothing deleted meanwhile comes back), and hand a find to
    /// every replica. Bounded: a few lookups at a time, and a digest the
    /// database did not know is not asked for again for `negativeTTL`.
    func lookUp(digest: SecretDigest, kind: SecretKind, on loop: EventLoop) -> EventLoopFuture<Bool> {
        guard store.sharedWithOtherHosts else { return loop.makeSucceededFuture(false) }
        let now = clock.now()
        guard admitLookUp(digest, now: now) else { return loop.makeSucceededFuture(false) }
        let promise = loop.makePromise(of: Bool.self)
        queue.async {
            let found = Result { try self.readFeedNow(); return try self.store.lookUp(digest: digest, kind: kind) }
            // Only a clear "not there" is remembered; a failed query is not.
            var missed: SecretDigest? = nil
            if case .success(nil) = found { missed = digest }
            var change: StateChange? = (try? found.get()) ?? nil
            // A key this host knows already keeps its last use, as with the feed.
            if case .keyCreated(var k)? = change, let old = self.master.key(id: k.id) {
                k.lastUsedAt = old.lastUsedAt
                k.lastUsedIP = old.lastUsedIP
                change = .keyCreated(k)
            }
            self.finishLookUp(found: change != nil, missed: missed, now: now)
            guard let change else { return promise.succeed(false) }
            self.master.apply(change)
            self.broadcast([change]).whenComplete { _ in promise.succeed(true) }
        }
        return promise.futureResult
    }

    /// The same for a client id at the token endpoint.
    func lookUpClient(id: String, on loop: EventLoop) -> EventLoopFuture<Bool> {
        guard store.sharedWithOtherHosts, Identifier.isClientID(id), admitLookUp(nil, now: clock.now()) else {
            return loop.makeSucceededFuture(false)
        }
        let promise = loop.makePromise(of: Bool.self)
        queue.async {
            let pair = try? { () throws -> ClientPair? in try self.readFeedNow(); return try self.store.lookUpClient(id: id) }()
            self.finishLookUp(found: pair != nil, missed: nil, now: 0)
            guard let pair = pair ?? nil, self.master.clientsByID[pair.clientID] == nil else { return promise.succeed(false) }
            self.master.learn(pair)
            let fresh = self.master
            EventLoopFuture.andAllSucceed(self.replicas.map { r in r.loop.submit { r.replace(index: fresh) } }, on: loop)
                .whenComplete { _ in promise.succeed(true) }
        }
        return promise.futureResult
    }

    /// A lookup may start: not a digest the database recently did not know,
    /// and fewer than `maxLookupsInFlight` under way.
    private func admitLookUp(_ digest: SecretDigest?, now: Timestamp) -> Bool {
        lookupLock.withLock {
            if let d = digest, let t = notFound[d], now - t < Self.negativeTTL { return false }
            guard lookupsInFlight < Self.maxLookupsInFlight else { lookupsShed += 1; return false }
            lookupsInFlight += 1
            lookupsTotal += 1
            return true
        }
    }

    private func finishLookUp(found: Bool, missed digest: SecretDigest?, now: Timestamp) {
        lookupLock.withLock {
            lookupsInFlight -= 1
            if found { lookupsFound += 1 }
            if let d = digest {
                if notFound.count >= Self.maxNotFound { notFound.removeAll(keepingCapacity: true) }
                notFound[d] = now
            }
        }
    }

    /// Reads the feed up to now and hands it to the replicas: what a lookup
    /// must have applied first, so that nothing deleted meanwhile comes back.
    private func readFeedNow() throws {
        let foreign = applyForeign(try store.changesFromOthers())
        if !foreign.isEmpty { _ = broadcast(foreign) }
    }

    public struct FeedStatus: Sendable {
        public var backend: String
        public var position: Int64
        /// Seconds since the feed was last read; nil with one host.
        public var lag: Int64?
        public var stale: Bool
        public var lookups: Int
        public var lookupsFound: Int
        public var lookupsShed: Int
    }

    /// Runs on the writer queue.
    func feedStatus() -> FeedStatus {
        let (total, found, shed) = lookupLock.withLock { (lookupsTotal, lookupsFound, lookupsShed) }
        return FeedStatus(backend: store.backend, position: store.feedPosition,
                          lag: store.sharedWithOtherHosts ? max(0, clock.now() - feedContact) : nil,
                          stale: stale, lookups: total, lookupsFound: found, lookupsShed: shed)
    }

    // MARK: reads

    /// Runs `body` on the writer's queue, after every mutation acknowledged so far.
    func read<T: Sendable>(on loop: EventLoop, _ body: @escaping @Sendable (Engine) throws -> T) -> EventLoopFuture<T> {
        let promise = loop.makePromise(of: T.self)
        queue.async { promise.completeWith(Result { try body(self) }) }
        return promise.futureResult
    }

    func keys(account: String, on loop: EventLoop) -> EventLoopFuture<[APIKey]> {
        read(on: loop) { $0.master.keys(account: account) }
    }

    // MARK: usage

    /// Last-use records a replica pushes once per turn of its event loop.
    /// They are in `master` at once (listings show them) and reach the disk
    /// in batches: with the next commit or on the usage timer.
    private func absorb(_ uses: [String: KeyUse], _ counts: UsageCounts) {
        queue.async {
            UsageWindow.merge(&self.dirtyCounts, counts)
            for (id, u) in uses {
                guard var key = self.master.key(id: id) else { continue }
                if let prev = key.lastUsedAt, prev > u.at { continue }
                key.lastUsedAt = u.at
                key.lastUsedIP = u.ip
                self.master.apply(.keyUpdated(key))
                self.dirtyUsage[id] = u
            }
        }
    }

    /// Writes the last-use records held in memory; runs on the usage timer.
    func writeUsage() {
        queue.async {
            guard !self.dirtyUsage.isEmpty || !self.dirtyCounts.isEmpty else { return }
            do {
                try self.store.commit([], usage: Array(self.dirtyUsage.values), counts: self.countsToWrite())
                self.dirtyUsage = [:]
                self.dirtyCounts = [:]
            } catch {
                self.logger.warning("could not record key usage; will retry", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The counters to write: those of credentials this host still knows
    /// (a deleted key's usage is deleted with it, and stays deleted).
    private func countsToWrite() -> UsageCounts {
        dirtyCounts.filter { cell, _ in
            switch cell.subject {
            case .key(let id): return master.key(id: id) != nil
            case .client(let id): return master.clientsByID[id] != nil
            }
        }
    }

    /// A subject's usage for the last `UsageWindow.days` UTC days: what the
    /// store holds (every host's) plus what this host has not written yet.
    /// Every event loop hands over its counters first, so a count answered
    /// before this call is in it.
    func usage(of subject: UsageSubject, on loop: EventLoop) -> EventLoopFuture<[UsageDay]> {
        flush().flatMap {
            self.read(on: loop) { e -> [UsageDay] in
                let first = UsageWindow.firstDay(at: e.clock.now())
                var counts = try e.store.usage(of: subject, fromDay: first)
                UsageWindow.merge(&counts, e.dirtyCounts.filter { $0.key.subject == subject })
                return UsageDay.days(of: subject, in: counts, from: first)
            }
        }
    }

    // MARK: configuration

    public struct ReloadOutcome: Sendable {
        public var errors: [String]
        public var restartRequired: [String]
        public var digest: String
    }

    /// Builds the new configuration beside the running one and swaps it into
    /// every replica at once; on any error the running one stays.
    /// Told about every reload, whichever way it was asked for (SIGHUP,
    /// `keygate reload`, POST /v1/reload): RELOADING=1 before, READY=1 after.
    /// Set once by the daemon before anything runs.
    var notifier: SystemdNotifier?

    /// A one-line summary for systemd's STATUS=. Runs on `queue`.
    func statusLine() -> String {
        let now = clock.now()
        let live = master.liveTokenCount(now: now)
        return "\(master.accounts.count) accounts, \(master.keyCount) keys, \(master.currentClientByAccount.count) clients, \(live) live tokens"
    }

    public func reload(on loop: EventLoop) -> EventLoopFuture<ReloadOutcome> {
        let promise = loop.makePromise(of: ReloadOutcome.self)
        queue.async {
            self.notifier?.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())")
            let path = self.config.path
            switch ConfigLoader.load(path: path) {
            case .failure(let errs):
                self.reloadsFailed += 1
                let lines = errs.diagnostics.map(\.description)
                self.logger.error("reload refused; the running configuration stays", metadata: ["errors": "\(lines.count)"])
                for l in lines { self.logger.error("\(l)") }
                self.notifier?.send("READY=1\nSTATUS=\(self.statusLine()); reload refused (\(lines.count) errors)")
                promise.succeed(ReloadOutcome(errors: lines, restartRequired: [], digest: self.config.digest))
            case .success(var new):
                let restart = new.restartOnlyChanges(from: self.config)
                // Sockets and the database stay as they are until the next start.
                new.listen = self.config.listen
                new.storagePath = self.config.storagePath
                self.config = new
                self.reloadsOK += 1
                self.configLoadedAt = self.clock.now()
                if self.sweepTimer != nil { self.scheduleSweep(new.tokens.sweepInterval) }
                let futures = self.replicas.map { r in r.loop.submit { r.replace(config: new) } }
                EventLoopFuture.andAllSucceed(futures, on: loop).whenComplete { _ in
                    var meta: Logger.Metadata = ["digest": "\(new.digest.prefix(12))"]
                    if !restart.isEmpty { meta["takes_effect_at_restart"] = "\(restart.joined(separator: ","))" }
                    self.logger.info("configuration reloaded", metadata: meta)
                    self.queue.async { self.notifier?.send("READY=1\nSTATUS=\(self.statusLine()); reloaded") }
                    promise.succeed(ReloadOutcome(errors: [], restartRequired: restart, digest: new.digest))
                }
            }
        }
        return promise.futureResult
    }

    public struct Status: Sendable {
        public var configPath: String
        public var configDigest: String
        public var loadedAt: Timestamp
        public var accounts: Int
        public var keys: Int
        public var clients: Int
        public var liveTokens: Int
        public var feed: FeedStatus
    }

    func status(on loop: EventLoop) -> EventLoopFuture<Status> {
        read(on: loop) { e in
            let now = e.clock.now()
            let live = e.master.liveTokenCount(now: now)
            return Status(configPath: e.config.path, configDigest: e.config.digest, loadedAt: e.configLoadedAt,
                          accounts: e.master.accounts.count, keys: e.master.keyCount,
                          clients: e.master.currentClientByAccount.count, liveTokens: live, feed: e.feedStatus())
        }
    }

    // MARK: expiry

    private var sweepTimer: DispatchSourceTimer?
    private var sweepInterval: Int64 = 0
    private var lastPruneDay: Int32 = 0

    /// Runs the sweep every `tokens.sweep_interval` on a Dispatch timer.
    public func startSweeping() {
        queue.async { self.scheduleSweep(self.config.tokens.sweepInterval) }
    }

    private func scheduleSweep(_ interval: Int64) {
        guard interval != sweepInterval else { return }
        sweepTimer?.cancel()
        sweepInterval = interval
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + .seconds(Int(interval)), repeating: .seconds(Int(interval)), leeway: .milliseconds(200))
        t.setEventHandler { [weak self] in _ = self?.purgeExpired() }
        t.resume()
        sweepTimer = t
    }

    /// Removes expired tokens and pairs past their grace from memory and disk in
    /// one transaction; logs only when it removed something. Runs on `queue`.
    @discardableResult
    func purgeExpired() -> Int {
        let now = clock.now()
        let expired = master.expired(at: now)
        let n = expired.count
        // Once a UTC day the sweep also runs with nothing expired, so that
        // usage counters older than the window are dropped (the store's part
        // of `.purged`) on installs where nothing ever expires.
        let day = UsageWindow.day(of: now)
        guard n > 0 || day != lastPruneDay else { return 0 }
        lastPruneDay = day
        let change = StateChange.purged(expired)
        do {
            try store.commit([change])
        } catch {
            logger.warning("sweep could not write; will retry", metadata: ["error": "\(error)"])
            return 0
        }
        master.apply(change)
        _ = broadcast([change])
        if n > 0 { logger.info("sweep removed expired credentials", metadata: ["removed": "\(n)"]) }
        return n
    }

    public func stopSweeping() { queue.sync { sweepTimer?.cancel(); sweepTimer = nil } }

    /// Sums every loop's counters and adds the writer's own, for GET /metrics.
    func metrics(on loop: EventLoop) -> EventLoopFuture<String> {
        let futures = replicas.map { r in r.loop.submit { r.stats } }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).flatMap { all in
            self.read(on: loop) { e -> String in
                let now = e.clock.now()
                var m = MetricsSnapshot()
                for s in all { m.loops.add(s) }
                m.tokensIssued = e.tokensIssued
                m.reloadsOK = e.reloadsOK
                m.reloadsFailed = e.reloadsFailed
                m.lastReloadSuccess = e.configLoadedAt
                m.liveTokens = e.master.liveTokenCount(now: now)
                m.keys = e.master.keyCount
                m.clients = e.master.currentClientByAccount.count
                m.accounts = e.master.accounts.count
                m.startedAt = e.startedAt
                m.feed = e.feedStatus()
                return m.render()
            }
        }
    }

    /// Waits until the writer queue has run everything handed to it, and writes
    /// any usage still held. Called last at shutdown, after the event loops stopped.
    public func finish() {
        queue.sync {}  // the usage the replicas pushed is queued before this
        queue.sync {
            guard !dirtyUsage.isEmpty || !dirtyCounts.isEmpty else { return }
            try? store.commit([], usage: Array(dirtyUsage.values), counts: countsToWrite())
            dirtyUsage = [:]
            dirtyCounts = [:]
        }
    }

    /// Completes once every event loop and the writer have run a task: proof of
    /// life for the systemd watchdog.
    func ping() -> EventLoopFuture<Void> {
        let loop = replicas[0].loop
        let promise = loop.makePromise(of: Void.self)
        queue.async { promise.succeed(()) }
        return EventLoopFuture.andAllSucceed(replicas.map { $0.loop.submit {} } + [promise.futureResult], on: loop)
    }

    /// At shutdown: every replica hands over what it holds, then `finish` writes it.
    public func flush() -> EventLoopFuture<Void> {
        let loop = replicas[0].loop
        return EventLoopFuture.andAllSucceed(replicas.map { r in r.loop.submit { r.pushUsage(); r.pushTallies() } }, on: loop)
    }

}

