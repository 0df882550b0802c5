/// A committed change to the credential state. The writer produces these after
/// the database commit; every in-memory copy of the state applies the same list.
public enum StateChange: Sendable {
    case keyCreated(APIKey)
    case keyUpdated(APIKey)
    case keyDeleted(id: String)
    /// The key gets a new secret (`digest`, `hint`); the one before it is
    /// `previousDigest`, accepted until `rollingUntil`. A roll during a grace
    /// forgets the secret before the previous one.
    case keyRolled(APIKey)
    /// The account's current pair becomes `pair`; the previous one, if any,
    /// retires at `previousRetiresAt` (nil: at once).
    case clientReplaced(ClientPair, previousRetiresAt: Timestamp?)
    case clientDeleted(account: String)
    case tokenIssued(AccessToken)
    case tokensRevoked([SecretDigest])
    /// Forget tokens altogether (the oldest beyond `max_live_per_client`), so a
    /// client that asks in a loop holds at most that many.
    case tokensDropped([SecretDigest])
    /// Drop what the sweep found expired. The writer lists it once, so that no
    /// event loop has to scan its whole copy.
    case purged(Expired)
}

/// What a sweep at `at` removes: expired tokens and keys, pairs past their grace.
public struct Expired: Sendable, Equatable {
    public var at: Timestamp
    public var tokens: [SecretDigest]
    public var clients: [String]
    public var keys: [String]
    /// Keys whose previous secret's grace ended.
    public var rolls: [String]

    public init(at: Timestamp, tokens: [SecretDigest] = [], clients: [String] = [], keys: [String] = [], rolls: [String] = []) {
        self.at = at; self.tokens = tokens; self.clients = clients; self.keys = keys; self.rolls = rolls
    }

    public var count: Int { tokens.count + clients.count + keys.count + rolls.count }
}

/// All credentials, indexed for verification and for the admin API. Pure data:
/// no locks, no I/O; each owner keeps it confined to one thread.
public struct CredentialIndex: Sendable {
    public private(set) var keysByDigest: [SecretDigest: APIKey] = [:]
    public private(set) var keyDigestByID: [String: SecretDigest] = [:]
    /// Key ids per account in creation order.
    public private(set) var keyIDsByAccount: [String: [String]] = [:]
    public private(set) var clientsByID: [String: ClientPair] = [:]
    public private(set) var currentClientByAccount: [String: String] = [:]
    public private(set) var tokensByDigest: [SecretDigest: AccessToken] = [:]
    /// Live (unrevoked) token digests per client id in issue order.
    public private(set) var liveTokensByClient: [String: [SecretDigest]] = [:]
    /// Every token digest per client id, revoked ones included.
    private var allTokensByClient: [String: Set<SecretDigest>] = [:]

    public init() {}

    /// Builds the index from records in the order they were created.
    public init(keys: [APIKey], clients: [ClientPair], tokens: [AccessToken]) {
        // Sized once: growing a million-entry dictionary step by step was a
        // fifth of the start-up time.
        keysByDigest.reserveCapacity(keys.count)
        keyDigestByID.reserveCapacity(keys.count)
        tokensByDigest.reserveCapacity(tokens.count)
        clientsByID.reserveCapacity(clients.count)
        for k in keys { insertKey(k) }
        for c in clients { insertClient(c) }
        for t in tokens { insertToken(t) }
    }

    // MARK: reading

    public func key(id: String) -> APIKey? { keyDigestByID[id].flatMap { keysByDigest[$0] } }

    public func keys(account: String) -> [APIKey] {
        (keyIDsByAccount[account] ?? []).compactMap { key(id: $0) }
    }

    public func keyCount(account: String) -> Int { keyIDsByAccount[account]?.count ?? 0 }

    /// Every token held for the client: live, revoked, and expired but not yet swept.
    public func heldTokens(client: String) -> Set<SecretDigest> { allTokensByClient[client] ?? [] }

    /// Keys of the account that have not expired at `now`: what counts against `max_keys`.
    public func unexpiredKeyCount(account: String, now: Timestamp) -> Int {
        keys(account: account).filter { !$0.isExpired(at: now) }.count
    }

    /// Tokens neither revoked nor expired at `now`.
    public func liveTokenCount(now: Timestamp) -> Int {
        tokensByDigest.values.filter { $0.isLive(at: now) }.count
    }

    /// Live token counts of every account in one pass.
    public func liveTokenCounts(now: Timestamp) -> [String: Int] {
        var out: [String: Int] = [:]
        for (cid, digests) in liveTokensByClient {
            guard let account = clientsByID[cid]?.account else { continue }
            for d in digests {
                if let t = tokensByDigest[d], t.isLive(at: now) { out[account, default: 0] += 1 }
            }
        }
        return out
    }

    public func currentClient(account: String) -> ClientPair? {
        currentClientByAccount[account].flatMap { clientsByID[$0] }
    }

    /// Live tokens of the account's pairs at `now` (unrevoked, unexpired).
    public func liveTokenCount(account: String, now: Timestamp) -> Int {
        var n = 0
        for (cid, pair) in clientsByID where pair.account == account {
            for d in liveTokensByClient[cid] ?? [] {
                if let t = tokensByDigest[d], t.isLive(at: now) { n += 1 }
            }
        }
        return n
    }

    public var accounts: [String] {
        Set(keyIDsByAccount.keys).union(currentClientByAccount.keys).sorted()
    }

    public var keyCount: Int { keyDigestByID.count }

    // MARK: changing

    public mutating func apply(_ change: StateChange) {
        switch change {
        case .keyCreated(let k):
            insertKey(k)
        case .keyUpdated(let k), .keyRolled(let k):
            replaceKey(k)
        case .keyDeleted(let id):
            guard let d = keyDigestByID.removeValue(forKey: id), let k = keysByDigest.removeValue(forKey: d) else { return }
            if let p = k.previousDigest { keysByDigest[p] = nil }
            keyIDsByAccount[k.account]?.removeAll { $0 == id }
            if keyIDsByAccount[k.account]?.isEmpty == true { keyIDsByAccount[k.account] = nil }
        case .clientReplaced(let pair, let retiresAt):
            if let old = currentClientByAccount[pair.account] {
                if let until = retiresAt {
                    clientsByID[old]?.retiresAt = until
                } else {
                    removeClient(old)
                }
            }
            insertClient(pair)
        case .clientDeleted(let account):
            if let cid = currentClientByAccount.removeValue(forKey: account) { removeClient(cid) }
            for (cid, p) in clientsByID where p.account == account { removeClient(cid) }
        case .tokenIssued(let t):
            insertToken(t)
        case .tokensRevoked(let digests):
            for d in digests {
                guard var t = tokensByDigest[d], !t.revoked else { continue }
                t.revoked = true
                tokensByDigest[d] = t
                liveTokensByClient[t.clientID]?.removeAll { $0 == d }
            }
        case .tokensDropped(let digests):
            for d in digests { forgetToken(d) }
        case .purged(let e):
            for cid in e.clients { removeClient(cid) }
            for d in e.tokens { forgetToken(d) }
            for id in e.keys { apply(.keyDeleted(id: id)) }
            for id in e.rolls {
                guard var k = key(id: id), let until = k.rollingUntil, until <= e.at else { continue }
                k.previousDigest = nil
                k.rollingUntil = nil
                replaceKey(k)
            }
        }
    }

    /// A known key takes its new form: digests it no longer has are forgotten,
    /// the ones it has point at it.
    private mutating func replaceKey(_ k: APIKey) {
        guard let oldDigest = keyDigestByID[k.id], let old = keysByDigest[oldDigest] else { return }
        for d in [old.digest, old.previousDigest].compactMap({ $0 }) where d != k.digest && d != k.previousDigest {
            keysByDigest[d] = nil
        }
        keysByDigest[k.digest] = k
        if let p = k.previousDigest { keysByDigest[p] = k }
        keyDigestByID[k.id] = k.digest
    }

    /// The key a presented digest names: its current secret, or the one before
    /// a roll (`previous`), whether or not that one's grace has ended.
    @inline(__always)
    public func keyMatching(_ digest: SecretDigest) -> (key: APIKey, previous: Bool)? {
        guard let k = keysByDigest[digest] else { return nil }
        if k.digest.constantTimeEquals(digest) { return (k, false) }
        if let p = k.previousDigest, p.constantTimeEquals(digest) { return (k, true) }
        return nil
    }

    /// The unexpired key `digest` is accepted for at `now`: its current secret,
    /// or the previous one while its grace runs.
    public func acceptedKey(_ digest: SecretDigest, now: Timestamp) -> APIKey? {
        guard let (k, previous) = keyMatching(digest), !k.isExpired(at: now) else { return nil }
        if previous && !k.isRolling(at: now) { return nil }
        return k
    }

    private mutating func forgetToken(_ d: SecretDigest) {
        guard let t = tokensByDigest.removeValue(forKey: d) else { return }
        if !t.revoked {
            liveTokensByClient[t.clientID]?.removeAll { $0 == d }
            if liveTokensByClient[t.clientID]?.isEmpty == true { liveTokensByClient[t.clientID] = nil }
        }
        allTokensByClient[t.clientID]?.remove(d)
        if allTokensByClient[t.clientID]?.isEmpty == true { allTokensByClient[t.clientID] = nil }
    }

    /// What a sweep at `now` removes: expired tokens and keys, pairs past their grace.
    public func expired(at now: Timestamp) -> Expired {
        Expired(at: now,
                tokens: tokensByDigest.values.filter { $0.expiresAt <= now }.map(\.digest),
                clients: clientsByID.values.filter { $0.isRetired(at: now) }.map(\.clientID),
                keys: keyDigestByID.values.compactMap { keysByDigest[$0] }.filter { $0.isExpired(at: now) }.map(\.id),
                rolls: keyDigestByID.values.compactMap { keysByDigest[$0] }
                    .filter { !$0.isExpired(at: now) && $0.rollingUntil.map { $0 <= now } == true }.map(\.id))
    }

    /// Idempotent: a key that another host's feed and a lookup both deliver is held once.
    private mutating func insertKey(_ k: APIKey) {
        let known = keyDigestByID[k.id] != nil
        if known { replaceKey(k); return }
        keysByDigest[k.digest] = k
        if let p = k.previousDigest { keysByDigest[p] = k }
        keyDigestByID[k.id] = k.digest
        if !known { keyIDsByAccount[k.account, default: []].append(k.id) }
    }

    /// A pair another host generated, learnt by lookup: held as it is in the database.
    public mutating func learn(_ pair: ClientPair) {
        insertClient(pair)
    }

    private mutating func insertClient(_ c: ClientPair) {
        clientsByID[c.clientID] = c
        if c.retiresAt == nil { currentClientByAccount[c.account] = c.clientID }
    }

    /// A pair leaves and every token it issued stops working with it: they stay
    /// known as revoked (verification says REVOKED) until they expire.
    private mutating func removeClient(_ cid: String) {
        guard let pair = clientsByID.removeValue(forKey: cid) else { return }
        if currentClientByAccount[pair.account] == cid { currentClientByAccount[pair.account] = nil }
        liveTokensByClient[cid] = nil
        for d in allTokensByClient[cid] ?? [] { tokensByDigest[d]?.revoked = true }
    }

    private mutating func insertToken(_ t: AccessToken) {
        if tokensByDigest[t.digest] != nil { return }
        tokensByDigest[t.digest] = t
        allTokensByClient[t.clientID, default: []].insert(t.digest)
        if !t.revoked { liveTokensByClient[t.clientID, default: []].append(t.digest) }
    }
}
