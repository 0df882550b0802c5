#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import KeygateConfig
import KeygateCore
import KeygateStore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// The state in a PostgreSQL database that several hosts share (SPEC 11).
///
/// Every write transaction first takes one transaction-scoped advisory lock,
/// so writes from all hosts are serialised: within it the writer reads the
/// change feed up to the present, the engine validates against that state,
/// and the rows and their feed entries commit together. The feed's sequence
/// numbers are assigned under the lock, so commit order is sequence order and
/// a host that reads `seq > last` never skips an entry. NOTIFY tells the
/// other hosts at commit; they read the feed by sequence number, so a host
/// that was away catches up.
public final class PostgresStore: CredentialStore, @unchecked Sendable {
    public let location: String
    public var backend: String { "postgres" }
    public var sharedWithOtherHosts: Bool { true }
    let configuration: PostgresConnection.Configuration
    let hostID: String
    let logger: Logger
    let group: EventLoopGroup

    // Confined to the engine's writer queue.
    private var writer: PostgresConnection?
    public private(set) var feedPosition: Int64 = 0


    static let writeLock: Int64 = 0x6B67_7772  // "kgwr"
    static let migrateLock: Int64 = 0x6B67_6D67  // "kgmg"
    static let channel = "keygate_changes"
    /// Feed entries older than this are pruned; a host away for longer reloads everything.
    static let feedRetention: Int64 = 3600

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(url: PostgresURL, password: String?, hostID: String, logger: Logger, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws {
        var c: PostgresConnection.Configuration
        if let socket = url.socketPath {
            c = .init(unixSocketPath: socket, username: url.user, password: password, database: url.database)
        } else {
            c = .init(host: url.host ?? "localhost", port: url.port, username: url.user, password: password, database: url.database, tls: .disable)
        }
        c.options.connectTimeout = .seconds(3)
        configuration = c
        location = url.socketDirectory.map { "postgresql://\(url.user)@/\(url.database)?host=\($0)" }
            ?? "postgresql://\(url.user)@\(url.host ?? ""):\(url.port)/\(url.database)"
        self.hostID = hostID
        self.logger = logger
        self.group = group
        try migrate()
    }

    deinit {
        // The connection must close before it goes; the closure keeps it until then.
        if let w = writer { w.close().whenComplete { _ in _ = w } }
    }

    /// Reads the password file (first line, without its newline).
    public static func password(fromFile path: String?) throws -> String? {
        guard let path else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read storage.password_file \(path): \(String(cString: strerror(errno)))")
        }
        return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    // MARK: bridging: the engine's writer is a plain thread

    func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result!.get()
    }

    final class ResultBox<T>: @unchecked Sendable {
        var result: Result<T, Error>?
        init() {}
    }

    func connect() throws -> PostgresConnection {
        let c = configuration, l = logger, loop = group.next()
        do {
            return try blocking { try await PostgresConnection.connect(on: loop, configuration: c, id: Int.random(in: 1...1_000_000), logger: l) }
        } catch {
            throw Failure(description: "cannot connect to the PostgreSQL database \(location): \(Self.describe(error))")
        }
    }

    static func describe(_ error: Error) -> String {
        if let p = error as? PSQLError {
            return p.serverInfo?[.message] ?? "\(p.code)"
        }
        return "\(error)"
    }

    private func writerConnection() throws -> PostgresConnection {
        if let w = writer, !w.isClosed { return w }
        let w = try connect()
        writer = w
        return w
    }

    /// Runs `body` on the writer's connection; on any failure the connection is dropped (and made anew next time).
    private func onWriter<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
        let conn = try writerConnection()
        do {
            return try blocking { try await body(conn) }
        } catch {
            writer = nil
            conn.close().whenComplete { _ in _ = conn }
            throw Failure(description: "the PostgreSQL database failed: \(Self.describe(error))")
        }
    }

    // MARK: migrations

    /// Registered once and never edited after they ship. Several hosts that
    /// start together take turns through a session advisory lock.
    static let migrations: [(name: String, statements: [String])] = [
        ("v1", [
            """
            CREATE TABLE api_keys (
              id TEXT PRIMARY KEY, account TEXT NOT NULL, name TEXT NOT NULL, digest BYTEA NOT NULL UNIQUE,
              hint TEXT NOT NULL, allow_ips TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, expires_at BIGINT,
              last_used_at BIGINT, last_used_ip TEXT, ord BIGSERIAL, UNIQUE (account, name))
            """,
            "CREATE INDEX api_keys_account ON api_keys (account)",
            """
            CREATE TABLE clients (
              client_id TEXT PRIMARY KEY, account TEXT NOT NULL, secret_digest BYTEA NOT NULL, allow_ips TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL, retires_at BIGINT, ord BIGSERIAL)
            """,
            "CREATE UNIQUE INDEX clients_one_current_pair ON clients (account) WHERE retires_at IS NULL",
            """
            CREATE TABLE access_tokens (
              digest BYTEA PRIMARY KEY, client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
              account TEXT NOT NULL, scope TEXT,
              issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false, ord BIGSERIAL)
            """,
            "CREATE INDEX access_tokens_client ON access_tokens (client_id)",
            "CREATE INDEX access_tokens_expiry ON access_tokens (expires_at)",
            """
            CREATE TABLE keygate_changes (
              seq BIGSERIAL PRIMARY KEY, host TEXT NOT NULL, body TEXT NOT NULL, at BIGINT NOT NULL)
            """,
        ]),
        ("v2-roll-usage", [
            "ALTER TABLE api_keys ADD COLUMN previous_digest BYTEA, ADD COLUMN rolling_until BIGINT",
            "CREATE INDEX api_keys_previous_digest ON api_keys (previous_digest) WHERE previous_digest IS NOT NULL",
            """
            CREATE TABLE usage_counts (
              subject TEXT NOT NULL, day INTEGER NOT NULL, result TEXT NOT NULL, count BIGINT NOT NULL,
              PRIMARY KEY (subject, day, result))
            """,
        ]),
    ]

    func migrate() throws {
        let l = logger, lock = Self.migrateLock, all = Self.migrations, me = hostID
        try onWriter { conn in
            try await conn.query("SELECT pg_advisory_lock(\(lock))", logger: l)
            do {
                try await conn.query("CREATE TABLE IF NOT EXISTS keygate_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL, host TEXT NOT NULL)", logger: l)
                var applied = Set<String>()
                for try await name in try await conn.query("SELECT name FROM keygate_migrations", logger: l).decode(String.self) { applied.insert(name) }
                for m in all where !applied.contains(m.name) {
                    try await conn.withTransaction(logger: l) { c in
                        for s in m.statements { try await c.query(PostgresQuery(unsafeSQL: s), logger: l) }
                        let now = Int64(Date().timeIntervalSince1970)
                        try await c.query("INSERT INTO keygate_migrations (name, applied_at, host) VALUES (\(m.name), \(now), \(me))", logger: l)
                    }
                    l.info("database migration applied", metadata: ["migration": "\(m.name)"])
                }
            } catch {
                _ = try? await conn.query("SELECT pg_advisory_unlock(\(lock))", logger: l)
                throw error
            }
            try await conn.query("SELECT pg_advisory_unlock(\(lock))", logger: l)
        }
    }

    // MARK: reading

    static func key(_ r: PostgresRandomAccessRow) throws -> APIKey? {
        guard let digest = SecretDigest(bytes: Array(try r["digest"].decode(ByteBuffer.self).readableBytesView)) else { return nil }
        let previous = try r["previous_digest"].decode(ByteBuffer?.self).flatMap { SecretDigest(bytes: Array($0.readableBytesView)) }
        return APIKey(id: try r["id"].decode(String.self), account: try r["account"].decode(String.self), name: try r["name"].decode(String.self),
                      digest: digest, hint: try r["hint"].decode(String.self), allowIPs: FeedCodec.ips(try r["allow_ips"].decode(String.self)),
                      createdAt: try r["created_at"].decode(Int64.self), expiresAt: try r["expires_at"].decode(Int64?.self),
                      lastUsedAt: try r["last_used_at"].decode(Int64?.self), lastUsedIP: try r["last_used_ip"].decode(String?.self),
                      previousDigest: previous, rollingUntil: previous == nil ? nil : try r["rolling_until"].decode(Int64?.self))
    }

    static func pair(_ r: PostgresRandomAccessRow) throws -> ClientPair? {
        guard let digest = SecretDigest(bytes: Array(try r["secret_digest"].decode(ByteBuffer.self).readableBytesView)) else { return nil }
        return ClientPair(clientID: try r["client_id"].decode(String.self), account: try r["account"].decode(String.self), secretDigest: digest,
                          allowIPs: FeedCodec.ips(try r["allow_ips"].decode(String.self)), createdAt: try r["created_at"].decode(Int64.self),
                          retiresAt: try r["retires_at"].decode(Int64?.self))
    }

    static func token(_ r: PostgresRandomAccessRow) throws -> AccessToken? {
        guard let digest = SecretDigest(bytes: Array(try r["digest"].decode(ByteBuffer.self).readableBytesView)) else { return nil }
        return AccessToken(digest: digest, clientID: try r["client_id"].decode(String.self), account: try r["account"].decode(String.self),
                           scope: try r["scope"].decode(String?.self), issuedAt: try r["issued_at"].decode(Int64.self),
                           expiresAt: try r["expires_at"].decode(Int64.self), revoked: try r["revoked"].decode(Bool.self))
    }

    public func loadAll() throws -> StoreSnapshot {
        let l = logger
        let (snap, position) = try onWriter { conn -> (StoreSnapshot, Int64) in
            try await conn.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: l)
            var s = StoreSnapshot()
            var pos: Int64 = 0
            for try await p in try await conn.query("SELECT coalesce(max(seq), 0) FROM keygate_changes", logger: l).decode(Int64.self) { pos = p }
            for row in try await conn.query("SELECT * FROM api_keys ORDER BY ord", logger: l).collect() {
                if let k = try Self.key(row.makeRandomAccess()) { s.keys.append(k) }
            }
            for row in try await conn.query("SELECT * FROM clients ORDER BY ord", logger: l).collect() {
                if let p = try Self.pair(row.makeRandomAccess()) { s.clients.append(p) }
            }
            for row in try await conn.query("SELECT * FROM access_tokens ORDER BY ord", logger: l).collect() {
                if let t = try Self.token(row.makeRandomAccess()) { s.tokens.append(t) }
            }
            try await conn.query("COMMIT", logger: l)
            return (s, pos)
        }
        feedPosition = position
        return snap
    }

    /// The feed after `feedPosition`, without another host's write lock.
    public func changesFromOthers() throws -> [StateChange] {
        let l = logger, after = feedPosition, me = hostID
        let (changes, last) = try onWriter { conn in try await Self.readFeed(conn, after: after, host: me, logger: l) }
        feedPosition = last
        return changes
    }

    /// Entries after `after`, those of other hosts decoded; throws `FeedGap`
    /// when entries this host never read were pruned.
    static func readFeed(_ conn: PostgresConnection, after: Int64, host: String, logger l: Logger) async throws -> ([StateChange], Int64) {
        var out: [StateChange] = []
        var last = after
        var first: Int64? = nil
        for try await (seq, h, body) in try await conn.query(
            "SELECT seq, host, body FROM keygate_changes WHERE seq > \(after) ORDER BY seq LIMIT 100000", logger: l).decode((Int64, String, String).self) {
            if first == nil { first = seq }
            last = seq
            if h != host { out.append(try FeedCodec.decode(body)) }
        }
        if let f = first, f > after + 1, after > 0 {
            // A gap is only a gap if pruning removed it: ask for the oldest entry kept.
            var oldest: Int64 = 0
            for try await o in try await conn.query("SELECT coalesce(min(seq), 0) FROM keygate_changes", logger: l).decode(Int64.self) { oldest = o }
            if oldest > after + 1 { throw FeedGap() }
        }
        return (out, last)
    }

    // MARK: writing

    public func transaction(usage: [KeyUse], counts: UsageCounts, _ body: @escaping ([StateChange]) throws -> [StateChange]) throws {
        let l = logger, after = feedPosition, me = hostID, lock = Self.writeLock
        final class Box: @unchecked Sendable { var body: (([StateChange]) throws -> [StateChange])? }
        let box = Box()
        box.body = body
        let last = try onWriter { conn -> Int64 in
            try await conn.query("BEGIN", logger: l)
            do {
                try await conn.query("SELECT pg_advisory_xact_lock(\(lock))", logger: l)
                let (foreign, seen) = try await Self.readFeed(conn, after: after, host: me, logger: l)
                let changes = try box.body!(foreign)
                // Before the changes: a key deleted in this batch takes its counters with it.
                try await Self.add(counts, conn, logger: l)
                var last = seen
                let now = Int64(Date().timeIntervalSince1970)
                var entries: [String] = []
                for c in changes {
                    try await Self.persist(c, conn, logger: l)
                    if let text = FeedCodec.encode(c) { entries.append(text) }
                }
                if !entries.isEmpty {
                    // One statement for the batch's feed entries, in order.
                    for try await s in try await conn.query("""
                        INSERT INTO keygate_changes (host, body, at)
                        SELECT \(me), body, \(now) FROM unnest(\(entries)::text[]) WITH ORDINALITY AS e(body, n) ORDER BY n
                        RETURNING seq
                        """, logger: l).decode(Int64.self) { last = max(last, s) }
                }
                for u in usage {
                    try await conn.query("UPDATE api_keys SET last_used_at = \(u.at), last_used_ip = \(u.ip) WHERE id = \(u.keyID) AND coalesce(last_used_at, 0) <= \(u.at)", logger: l)
                }
                if last != seen { try await conn.query("SELECT pg_notify(\(Self.channel), \(String(last)))", logger: l) }
                try await conn.query("COMMIT", logger: l)
                return last
            } catch {
                _ = try? await conn.query("ROLLBACK", logger: l)
                throw error
            }
        }
        feedPosition = last
    }

    /// Sweeps and last-use records: this host's own business, not fed to others.
    public func commit(_ changes: [StateChange], usage: [KeyUse], counts: UsageCounts) throws {
        let l = logger, retention = Self.feedRetention
        try onWriter { conn in
            try await conn.withTransaction(logger: l) { c in
                try await Self.add(counts, c, logger: l)
                for ch in changes {
                    try await Self.persist(ch, c, logger: l)
                    if case .purged(let e) = ch {
                        try await c.query("DELETE FROM keygate_changes WHERE at < \(e.at - retention)", logger: l)
                    }
                }
                for u in usage {
                    try await c.query("UPDATE api_keys SET last_used_at = \(u.at), last_used_ip = \(u.ip) WHERE id = \(u.keyID) AND coalesce(last_used_at, 0) <= \(u.at)", logger: l)
                }
            }
        }
    }

    /// Adds this host's counters to the shared ones: each host adds its own,
    /// so a row holds the sum over hosts.
    static func add(_ counts: UsageCounts, _ c: PostgresConnection, logger l: Logger) async throws {
        // In one order on every host, so that two hosts adding to the same
        // rows wait for each other instead of deadlocking.
        let cells = counts.filter { $0.value > 0 }.sorted {
            ($0.key.subject.text, $0.key.day, $0.key.result.rawValue) < ($1.key.subject.text, $1.key.day, $1.key.result.rawValue)
        }
        guard !cells.isEmpty else { return }
        let subjects = cells.map { $0.key.subject.text }, days = cells.map { Int32($0.key.day) }
        let results = cells.map { $0.key.result.text }, ns = cells.map { $0.value }
        try await c.query("""
            INSERT INTO usage_counts (subject, day, result, count)
            SELECT * FROM unnest(\(subjects)::text[], \(days)::int[], \(results)::text[], \(ns)::bigint[])
            ON CONFLICT (subject, day, result) DO UPDATE SET count = usage_counts.count + EXCLUDED.count
            """, logger: l)
    }

    public func usage(of subject: UsageSubject, fromDay: Int32) throws -> UsageCounts {
        let l = logger, text = subject.text
        return try onWriter { conn -> UsageCounts in
            var out = UsageCounts()
            for try await (day, result, n) in try await conn.query(
                "SELECT day, result, count FROM usage_counts WHERE subject = \(text) AND day >= \(fromDay)", logger: l).decode((Int32, String, Int64).self) {
                if let r = UsageResult(text: result) { out[UsageCell(subject: subject, day: day, result: r), default: 0] += n }
            }
            return out
        }
    }

    static func bytes(_ d: SecretDigest) -> ByteBuffer { ByteBuffer(bytes: d.bytes) }

    static func persist(_ change: StateChange, _ c: PostgresConnection, logger l: Logger) async throws {
        switch change {
        case .keyCreated(let k):
            try await c.query("""
                INSERT INTO api_keys (id, account, name, digest, hint, allow_ips, created_at, expires_at)
                VALUES (\(k.id), \(k.account), \(k.name), \(bytes(k.digest)), \(k.hint), \(FeedCodec.ips(k.allowIPs)), \(k.createdAt), \(k.expiresAt))
                """, logger: l)
        case .keyUpdated(let k):
            try await c.query("""
                UPDATE api_keys SET name = \(k.name), allow_ips = \(FeedCodec.ips(k.allowIPs)), previous_digest = \(k.previousDigest.map(bytes)),
                  rolling_until = \(k.rollingUntil) WHERE id = \(k.id)
                """, logger: l)
        case .keyRolled(let k):
            try await c.query("""
                UPDATE api_keys SET digest = \(bytes(k.digest)), hint = \(k.hint), previous_digest = \(k.previousDigest.map(bytes)),
                  rolling_until = \(k.rollingUntil) WHERE id = \(k.id)
                """, logger: l)
        case .keyDeleted(let id):
            try await c.query("DELETE FROM api_keys WHERE id = \(id)", logger: l)
            try await c.query("DELETE FROM usage_counts WHERE subject = \(UsageSubject.key(id).text)", logger: l)
        case .clientReplaced(let pair, let retiresAt):
            if let until = retiresAt {
                try await c.query("UPDATE clients SET retires_at = \(until) WHERE account = \(pair.account) AND retires_at IS NULL", logger: l)
            } else {
                try await c.query("DELETE FROM usage_counts WHERE subject IN (SELECT 'client:' || client_id FROM clients WHERE account = \(pair.account) AND retires_at IS NULL)", logger: l)
                try await c.query("DELETE FROM clients WHERE account = \(pair.account) AND retires_at IS NULL", logger: l)
            }
            try await c.query("""
                INSERT INTO clients (client_id, account, secret_digest, allow_ips, created_at, retires_at)
                VALUES (\(pair.clientID), \(pair.account), \(bytes(pair.secretDigest)), \(FeedCodec.ips(pair.allowIPs)), \(pair.createdAt), NULL)
                """, logger: l)
        case .clientDeleted(let account):
            try await c.query("DELETE FROM usage_counts WHERE subject IN (SELECT 'client:' || client_id FROM clients WHERE account = \(account))", logger: l)
            try await c.query("DELETE FROM clients WHERE account = \(account)", logger: l)
        case .tokenIssued(let t):
            try await c.query("""
                INSERT INTO access_tokens (digest, client_id, account, scope, issued_at, expires_at, revoked)
                VALUES (\(bytes(t.digest)), \(t.clientID), \(t.account), \(t.scope), \(t.issuedAt), \(t.expiresAt), \(t.revoked))
                """, logger: l)
        case .tokensDropped(let digests):
            for d in digests { try await c.query("DELETE FROM access_tokens WHERE digest = \(bytes(d))", logger: l) }
        case .tokensRevoked(let digests):
            for d in digests { try await c.query("UPDATE access_tokens SET revoked = true WHERE digest = \(bytes(d))", logger: l) }
        case .purged(let e):
            try await c.query("DELETE FROM clients WHERE retires_at IS NOT NULL AND retires_at <= \(e.at)", logger: l)
            try await c.query("DELETE FROM access_tokens WHERE expires_at <= \(e.at)", logger: l)
            try await c.query("DELETE FROM api_keys WHERE expires_at IS NOT NULL AND expires_at <= \(e.at)", logger: l)
            try await c.query("UPDATE api_keys SET previous_digest = NULL, rolling_until = NULL WHERE rolling_until IS NOT NULL AND rolling_until <= \(e.at)", logger: l)
            let first = UsageWindow.firstDay(at: e.at)
            try await c.query("""
                DELETE FROM usage_counts WHERE day < \(first)
                   OR (subject LIKE 'key:%' AND NOT EXISTS (SELECT 1 FROM api_keys WHERE id = substr(subject, 5)))
                   OR (subject LIKE 'client:%' AND NOT EXISTS (SELECT 1 FROM clients WHERE client_id = substr(subject, 8)))
                """, logger: l)
        }
    }

    // MARK: lookups (on the writer's queue, right after reading the feed)

    /// A credential this host does not know, from the database: how a secret
    /// created on another host a moment ago is accepted here at once.
    public func lookUp(digest: SecretDigest, kind: SecretKind) throws -> StateChange? {
        let l = logger, d = Self.bytes(digest)
        return try onWriter { conn -> StateChange? in
            switch kind {
            case .apiKey:
                for row in try await conn.query("SELECT * FROM api_keys WHERE digest = \(d) OR previous_digest = \(d)", logger: l).collect() {
                    if let k = try Self.key(row.makeRandomAccess()) { return .keyCreated(k) }
                }
            case .accessToken:
                for row in try await conn.query("SELECT * FROM access_tokens WHERE digest = \(d)", logger: l).collect() {
                    if let t = try Self.token(row.makeRandomAccess()) { return .tokenIssued(t) }
                }
            case .clientSecret:
                break
            }
            return nil
        }
    }

    public func lookUpClient(id: String) throws -> ClientPair? {
        let l = logger
        return try onWriter { conn -> ClientPair? in
            for row in try await conn.query("SELECT * FROM clients WHERE client_id = \(id)", logger: l).collect() {
                return try Self.pair(row.makeRandomAccess())
            }
            return nil
        }
    }

    // MARK: the feed's announcements

    /// Calls `onNotify` for every NOTIFY on the feed's channel, and `onState`
    /// when the listening connection is up or lost; reconnects by itself.
    public func listen(onNotify: @escaping @Sendable () -> Void, onState: @escaping @Sendable (Bool) -> Void) -> Task<Void, Never> {
        let c = configuration, l = logger, g = group
        return Task {
            var backoff: UInt64 = 100_000_000
            while !Task.isCancelled {
                do {
                    let conn = try await PostgresConnection.connect(on: g.next(), configuration: c, id: Int.random(in: 1...1_000_000), logger: l)
                    backoff = 100_000_000
                    onState(true)
                    onNotify()  // catch up with whatever happened while away
                    do {
                        try await conn.listen(on: Self.channel) { notifications in
                            for try await _ in notifications { onNotify() }
                        }
                    } catch {
                        try? await conn.close()
                        throw error
                    }
                    try? await conn.close()
                } catch {
                    if Task.isCancelled { return }
                    if backoff == 100_000_000 {
                        l.warning("the change feed's connection to PostgreSQL is lost; retrying", metadata: ["error": "\(Self.describe(error))"])
                    }
                }
                onState(false)
                try? await Task.sleep(nanoseconds: backoff)
                backoff = min(backoff * 2, 2_000_000_000)
            }
        }
    }

    /// Copies a SQLite state into this (empty) database, digests as they are.
    public func importSnapshot(_ s: StoreSnapshot) throws -> (keys: Int, clients: Int, tokens: Int) {
        let l = logger
        return try onWriter { conn in
            try await conn.withTransaction(logger: l) { c in
                var n = 0
                for try await x in try await c.query("SELECT (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM clients) + (SELECT count(*) FROM access_tokens)", logger: l).decode(Int64.self) { n = Int(x) }
                guard n == 0 else { throw Failure(description: "the PostgreSQL database already holds \(n) credentials; the copy goes into an empty database only") }
                for k in s.keys {
                    try await Self.persist(.keyCreated(k), c, logger: l)
                    if k.previousDigest != nil { try await Self.persist(.keyRolled(k), c, logger: l) }
                    try await c.query("UPDATE api_keys SET last_used_at = \(k.lastUsedAt), last_used_ip = \(k.lastUsedIP) WHERE id = \(k.id)", logger: l)
                }
                for p in s.clients {
                    try await c.query("""
                        INSERT INTO clients (client_id, account, secret_digest, allow_ips, created_at, retires_at)
                        VALUES (\(p.clientID), \(p.account), \(Self.bytes(p.secretDigest)), \(FeedCodec.ips(p.allowIPs)), \(p.createdAt), \(p.retiresAt))
                        """, logger: l)
                }
                for t in s.tokens { try await Self.persist(.tokenIssued(t), c, logger: l) }
                return (s.keys.count, s.clients.count, s.tokens.count)
            }
        }
    }
}

