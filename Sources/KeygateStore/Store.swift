#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRDB
import KeygateCore

/// The state database: SQLite in WAL mode with synchronous=FULL, so a change
/// is on disk when its commit returns. Only digests of secrets are stored.
/// Used from one thread at a time (the daemon's writer).
public final class Store: CredentialStore, @unchecked Sendable {
    public let path: String
    public var location: String { path }
    public var backend: String { "sqlite" }
    let db: DatabaseQueue

    public init(path: String) throws {
        self.path = path
        try Store.ensureDirectory(of: path)
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(5)
        config.label = "keygate.store"
        do {
            db = try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw SystemError("cannot open the state database \(path): \(error)")
        }
        // GRDB sets NORMAL for WAL databases; an acknowledged change must survive power loss.
        try db.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        try Store.migrator.migrate(db)
    }

    static func ensureDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let dir = String(path[..<slash])
        var st = stat()
        if stat(dir, &st) == 0 { return }
        if mkdir(dir, 0o700) != 0 && errno != EEXIST {
            throw SystemError("cannot create the state directory \(dir)", errno: errno)
        }
    }

    /// Migrations are registered once and never edited after they ship.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE api_keys (
                  id TEXT PRIMARY KEY,
                  account TEXT NOT NULL,
                  name TEXT NOT NULL,
                  digest BLOB NOT NULL UNIQUE,
                  hint TEXT NOT NULL,
                  allow_ips TEXT NOT NULL DEFAULT '',
                  created_at INTEGER NOT NULL,
                  expires_at INTEGER,
                  last_used_at INTEGER,
                  last_used_ip TEXT,
                  UNIQUE (account, name)
                );
                CREATE TABLE clients (
                  client_id TEXT PRIMARY KEY,
                  account TEXT NOT NULL,
                  secret_digest BLOB NOT NULL,
                  allow_ips TEXT NOT NULL DEFAULT '',
                  created_at INTEGER NOT NULL,
                  retires_at INTEGER
                );
                CREATE INDEX clients_account ON clients(account);
                CREATE TABLE access_tokens (
                  digest BLOB PRIMARY KEY,
                  client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
                  account TEXT NOT NULL,
                  scope TEXT,
                  issued_at INTEGER NOT NULL,
                  expires_at INTEGER NOT NULL,
                  revoked INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX access_tokens_client ON access_tokens(client_id);
                CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
                """)
        }
        m.registerMigration("v2-roll-usage") { db in
            try db.execute(sql: """
                ALTER TABLE api_keys ADD COLUMN previous_digest BLOB;
                ALTER TABLE api_keys ADD COLUMN rolling_until INTEGER;
                CREATE TABLE usage_counts (
                  subject TEXT NOT NULL,
                  day INTEGER NOT NULL,
                  result TEXT NOT NULL,
                  count INTEGER NOT NULL,
                  PRIMARY KEY (subject, day, result)
                ) WITHOUT ROWID;
                """)
        }
        return m
    }

    /// The `synchronous` pragma of the writing connection (2 = FULL).
    public func synchronousMode() throws -> Int {
        try db.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 }
    }

    public func journalMode() throws -> String {
        try db.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") ?? "" }
    }

    public typealias Snapshot = StoreSnapshot

    /// Everything, for the in-memory state at start, in the order it was written
    /// (key listings keep creation order across restarts).
    public func loadAll() throws -> Snapshot {
        try db.read { db in
            var s = Snapshot()
            // Columns by position (a million keys: looking each up by name was a
            // tenth of the start-up time), rows through a cursor.
            if let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM api_keys") { s.keys.reserveCapacity(n) }
            let keys = try Row.fetchCursor(db, sql: """
                SELECT id, account, name, digest, hint, allow_ips, created_at, expires_at, last_used_at, last_used_ip,
                       previous_digest, rolling_until
                FROM api_keys ORDER BY rowid
                """)
            while let row = try keys.next() {
                guard let digest = SecretDigest(bytes: [UInt8](row[3] as Data)) else { continue }
                let previous = (row[10] as Data?).flatMap { SecretDigest(bytes: [UInt8]($0)) }
                s.keys.append(APIKey(
                    id: row[0], account: row[1], name: row[2], digest: digest, hint: row[4],
                    allowIPs: Store.decodeAllowList(row[5]), createdAt: row[6],
                    expiresAt: row[7], lastUsedAt: row[8], lastUsedIP: row[9],
                    previousDigest: previous, rollingUntil: previous == nil ? nil : row[11]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM clients ORDER BY rowid") {
                guard let digest = SecretDigest(bytes: [UInt8](row["secret_digest"] as Data)) else { continue }
                s.clients.append(ClientPair(
                    clientID: row["client_id"], account: row["account"], secretDigest: digest,
                    allowIPs: Store.decodeAllowList(row["allow_ips"]), createdAt: row["created_at"], retiresAt: row["retires_at"]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM access_tokens ORDER BY rowid") {
                guard let digest = SecretDigest(bytes: [UInt8](row["digest"] as Data)) else { continue }
                s.tokens.append(AccessToken(
                    digest: digest, clientID: row["client_id"], account: row["account"], scope: row["scope"],
                    issuedAt: row["issued_at"], expiresAt: row["expires_at"], revoked: (row["revoked"] as Int) != 0))
            }
            return s
        }
    }

    public typealias Usage = KeyUse

    /// Persists a batch of changes in one transaction: one fsync for all of them.
    public func commit(_ changes: [StateChange], usage: [Usage], counts: UsageCounts) throws {
        try db.write { db in
            for (cell, n) in counts where n > 0 {
                try db.cachedStatement(sql: """
                    INSERT INTO usage_counts (subject, day, result, count) VALUES (?, ?, ?, ?)
                    ON CONFLICT (subject, day, result) DO UPDATE SET count = count + excluded.count
                    """).execute(arguments: [cell.subject.text, Int64(cell.day), cell.result.text, n])
            }
            // After the counters: a key deleted in this batch takes them with it.
            for change in changes { try Store.persist(change, db) }
            for u in usage {
                try db.execute(sql: "UPDATE api_keys SET last_used_at = ?, last_used_ip = ? WHERE id = ?",
                               arguments: [u.at, u.ip, u.keyID])
            }
        }
    }

    public func usage(of subject: UsageSubject, fromDay: Int32) throws -> UsageCounts {
        try db.read { db in
            var out = UsageCounts()
            for row in try Row.fetchAll(db, sql: "SELECT day, result, count FROM usage_counts WHERE subject = ? AND day >= ?",
                                        arguments: [subject.text, Int64(fromDay)]) {
                guard let r = UsageResult(text: row[1]) else { continue }
                out[UsageCell(subject: subject, day: Int32(truncatingIfNeeded: row[0] as Int64), result: r), default: 0] += row[2] as Int64
            }
            return out
        }
    }

    static func persist(_ change: StateChange, _ db: Database) throws {
        switch change {
        case .keyCreated(let k):
            try db.cachedStatement(sql: """
                INSERT INTO api_keys (id, account, name, digest, hint, allow_ips, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [k.id, k.account, k.name, Data(k.digest.bytes), k.hint, encodeAllowList(k.allowIPs), k.createdAt, k.expiresAt])
        case .keyUpdated(let k):
            try db.cachedStatement(sql: "UPDATE api_keys SET name = ?, allow_ips = ?, previous_digest = ?, rolling_until = ? WHERE id = ?")
                           .execute(arguments: [k.name, encodeAllowList(k.allowIPs), k.previousDigest.map { Data($0.bytes) }, k.rollingUntil, k.id])
        case .keyRolled(let k):
            try db.cachedStatement(sql: "UPDATE api_keys SET digest = ?, hint = ?, previous_digest = ?, rolling_until = ? WHERE id = ?")
                .execute(arguments: [Data(k.digest.bytes), k.hint, k.previousDigest.map { Data($0.bytes) }, k.rollingUntil, k.id])
        case .keyDeleted(let id):
            try db.cachedStatement(sql: "DELETE FROM api_keys WHERE id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM usage_counts WHERE subject = ?").execute(arguments: [UsageSubject.key(id).text])
        case .clientReplaced(let pair, let retiresAt):
            if let until = retiresAt {
                try db.cachedStatement(sql: "UPDATE clients SET retires_at = ? WHERE account = ? AND retires_at IS NULL")
                               .execute(arguments: [until, pair.account])
            } else {
                try db.cachedStatement(sql: "DELETE FROM usage_counts WHERE subject IN (SELECT 'client:' || client_id FROM clients WHERE account = ? AND retires_at IS NULL)")
                    .execute(arguments: [pair.account])
                try db.cachedStatement(sql: "DELETE FROM clients WHERE account = ? AND retires_at IS NULL").execute(arguments: [pair.account])
            }
            try db.cachedStatement(sql: """
                INSERT INTO clients (client_id, account, secret_digest, allow_ips, created_at, retires_at)
                VALUES (?, ?, ?, ?, ?, NULL)
                """).execute(arguments: [pair.clientID, pair.account, Data(pair.secretDigest.bytes), encodeAllowList(pair.allowIPs), pair.createdAt])
        case .clientDeleted(let account):
            try db.cachedStatement(sql: "DELETE FROM usage_counts WHERE subject IN (SELECT 'client:' || client_id FROM clients WHERE account = ?)")
                .execute(arguments: [account])
            try db.cachedStatement(sql: "DELETE FROM clients WHERE account = ?").execute(arguments: [account])
        case .tokenIssued(let t):
            try db.cachedStatement(sql: """
                INSERT INTO access_tokens (digest, client_id, account, scope, issued_at, expires_at, revoked)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [Data(t.digest.bytes), t.clientID, t.account, t.scope, t.issuedAt, t.expiresAt, t.revoked ? 1 : 0])
        case .tokensDropped(let digests):
            for d in digests {
                try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE digest = ?").execute(arguments: [Data(d.bytes)])
            }
        case .tokensRevoked(let digests):
            for d in digests {
                try db.cachedStatement(sql: "UPDATE access_tokens SET revoked = 1 WHERE digest = ?").execute(arguments: [Data(d.bytes)])
            }
        case .purged(let e):
            let now = e.at
            try db.cachedStatement(sql: "DELETE FROM clients WHERE retires_at IS NOT NULL AND retires_at <= ?").execute(arguments: [now])
            try db.cachedStatement(sql: "DELETE FROM access_tokens WHERE expires_at <= ?").execute(arguments: [now])
            try db.cachedStatement(sql: "DELETE FROM api_keys WHERE expires_at IS NOT NULL AND expires_at <= ?").execute(arguments: [now])
            try db.cachedStatement(sql: "UPDATE api_keys SET previous_digest = NULL, rolling_until = NULL WHERE rolling_until IS NOT NULL AND rolling_until <= ?")
                .execute(arguments: [now])
            // Counters older than the window, and those of credentials that are gone.
            try db.cachedStatement(sql: """
                DELETE FROM usage_counts WHERE day < ?
                   OR (subject LIKE 'key:%' AND substr(subject, 5) NOT IN (SELECT id FROM api_keys))
                   OR (subject LIKE 'client:%' AND substr(subject, 8) NOT IN (SELECT client_id FROM clients))
                """).execute(arguments: [Int64(UsageWindow.firstDay(at: now))])
        }
    }

    static func encodeAllowList(_ l: IPAllowList) -> String {
        l.networks.map(\.description).joined(separator: " ")
    }

    static func decodeAllowList(_ s: String) -> IPAllowList {
        let nets = s.split(separator: " ").compactMap { try? IPNetwork.parse(String($0)).get() }
        return nets.isEmpty ? .any : .only(nets)
    }
}
