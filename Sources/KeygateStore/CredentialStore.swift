import KeygateCore

/// Everything a store holds, in the order it was written.
public struct StoreSnapshot: Sendable {
    public var keys: [APIKey] = []
    public var clients: [ClientPair] = []
    public var tokens: [AccessToken] = []
    public init(keys: [APIKey] = [], clients: [ClientPair] = [], tokens: [AccessToken] = []) {
        self.keys = keys; self.clients = clients; self.tokens = tokens
    }
}

/// The last successful verification of a key.
public struct KeyUse: Sendable, Equatable {
    public var keyID: String
    public var at: Timestamp
    public var ip: String?
    public init(keyID: String, at: Timestamp, ip: String?) { self.keyID = keyID; self.at = at; self.ip = ip }
}

/// Where the engine keeps the credential state. Writes are all or nothing:
/// when one throws, nothing of it was stored. Used from one thread at a time
/// (the engine's writer).
public protocol CredentialStore: AnyObject, Sendable {
    /// For log lines: a path or a database name, never a password.
    var location: String { get }
    /// `sqlite`, `postgres`, `memory`.
    var backend: String { get }
    func loadAll() throws -> StoreSnapshot
    /// One write transaction for a batch of mutations. `body` gets the changes
    /// other hosts committed since this host last read the change feed (to
    /// apply before validating), and returns the changes to commit with them.
    /// `counts` are usage counters to add (SPEC 12), written with the batch.
    func transaction(usage: [KeyUse], counts: UsageCounts, _ body: @escaping ([StateChange]) throws -> [StateChange]) throws
    /// Changes that are this host's own business: sweeps, last-use records, usage counters.
    func commit(_ changes: [StateChange], usage: [KeyUse], counts: UsageCounts) throws
    /// The stored counters of `subject` from `fromDay` on, summed over every host.
    func usage(of subject: UsageSubject, fromDay: Int32) throws -> UsageCounts
    /// What other hosts committed since this host last read the feed; [] with one host.
    func changesFromOthers() throws -> [StateChange]
    /// The feed's position this host has read up to (0 with one host).
    var feedPosition: Int64 { get }
    /// A credential other hosts created that this one does not know yet.
    func lookUp(digest: SecretDigest, kind: SecretKind) throws -> StateChange?
    func lookUpClient(id: String) throws -> ClientPair?
    /// Whether `lookUp` can find anything this host does not know.
    var sharedWithOtherHosts: Bool { get }
}

/// One host's store: nothing comes from elsewhere.
extension CredentialStore {
    public func transaction(usage: [KeyUse], counts: UsageCounts, _ body: @escaping ([StateChange]) throws -> [StateChange]) throws {
        let changes = try body([])
        if !changes.isEmpty { try commit(changes, usage: usage, counts: counts) }
    }
    public func transaction(usage: [KeyUse], _ body: @escaping ([StateChange]) throws -> [StateChange]) throws {
        try transaction(usage: usage, counts: [:], body)
    }
    public func commit(_ changes: [StateChange], usage: [KeyUse]) throws { try commit(changes, usage: usage, counts: [:]) }
    public func changesFromOthers() throws -> [StateChange] { [] }
    public var feedPosition: Int64 { 0 }
    public func lookUp(digest: SecretDigest, kind: SecretKind) throws -> StateChange? { nil }
    public func lookUpClient(id: String) throws -> ClientPair? { nil }
    public var sharedWithOtherHosts: Bool { false }
}

/// A store in memory, for fast tests of the engine's logic. `failing` makes
/// every commit throw, as a full disk would.
public final class MemoryStore: CredentialStore, @unchecked Sendable {
    public var location: String { "memory" }
    public var backend: String { "memory" }
    public private(set) var index = CredentialIndex()
    public private(set) var commits = 0
    public private(set) var changeCount = 0
    public var failing = false
    public var lastUse: [String: KeyUse] = [:]
    public var counts: UsageCounts = [:]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String { "the store refused the write" }
    }

    public init() {}

    public func loadAll() throws -> StoreSnapshot {
        let keys = index.keyIDsByAccount.keys.sorted().flatMap { index.keys(account: $0) }.map { k -> APIKey in
            var k = k
            if let u = lastUse[k.id] { k.lastUsedAt = u.at; k.lastUsedIP = u.ip }
            return k
        }
        return StoreSnapshot(keys: keys, clients: Array(index.clientsByID.values).sorted { $0.createdAt < $1.createdAt },
                             tokens: Array(index.tokensByDigest.values).sorted { $0.issuedAt < $1.issuedAt })
    }

    public func commit(_ changes: [StateChange], usage: [KeyUse], counts new: UsageCounts) throws {
        if failing { throw Failure() }
        for c in changes {
            index.apply(c)
            if case .keyDeleted(let id) = c { counts = counts.filter { $0.key.subject != .key(id) } }
        }
        for u in usage { lastUse[u.keyID] = u }
        UsageWindow.merge(&counts, new)
        commits += 1
        changeCount += changes.count
    }

    public func usage(of subject: UsageSubject, fromDay: Int32) throws -> UsageCounts {
        counts.filter { $0.key.subject == subject && $0.key.day >= fromDay }
    }
}

extension CredentialStore {
    public func commit(_ changes: [StateChange]) throws { try commit(changes, usage: []) }
}

/// Feed entries this host never read are gone: it must reload everything.
public struct FeedGap: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the change feed no longer holds what this host missed" }
}
