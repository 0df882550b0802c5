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

/// Where the engine keeps the credential state. `commit` is all or nothing:
/// when it throws, nothing of the batch was stored.
public protocol CredentialStore: AnyObject, Sendable {
    /// For log lines: a path or a database name, never a password.
    var location: String { get }
    func loadAll() throws -> StoreSnapshot
    func commit(_ changes: [StateChange], usage: [KeyUse]) throws
}

/// A store in memory, for fast tests of the engine's logic. `failing` makes
/// every commit throw, as a full disk would.
public final class MemoryStore: CredentialStore, @unchecked Sendable {
    public var location: String { "memory" }
    public private(set) var index = CredentialIndex()
    public private(set) var commits = 0
    public private(set) var changeCount = 0
    public var failing = false
    public var lastUse: [String: KeyUse] = [:]

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

    public func commit(_ changes: [StateChange], usage: [KeyUse]) throws {
        if failing { throw Failure() }
        for c in changes { index.apply(c) }
        for u in usage { lastUse[u.keyID] = u }
        commits += 1
        changeCount += changes.count
    }
}

extension CredentialStore {
    public func commit(_ changes: [StateChange]) throws { try commit(changes, usage: []) }
}
