import Foundation
import XCTest
import KeygateConfig
import KeygateCore
import KeygatePostgres
import Logging
@testable import KeygateStore

/// One suite that every store passes: SQLite and PostgreSQL (a private
/// cluster that `make test` starts; KEYGATE_TEST_PG_DIR). MemoryStore is a
/// fake for the engine's logic, not a store, and is not held to it.
protocol StoreContract {
    /// A new, empty store; `second` opens another handle on the same state (a restart, or another host).
    func makeStore() throws -> (first: CredentialStore, second: () throws -> CredentialStore)
    /// Everything the store holds, as text (a database dump).
    func dumpText() throws -> String
}

/// The contract's cases; each backend's XCTestCase runs every one of them.
extension StoreContract {
    func key(_ name: String, account: String = "acme", expires: Timestamp? = nil) -> APIKey {
        let secret = SecretFormat.generate(.apiKey)
        return APIKey(id: Identifier.keyID(), account: account, name: name, digest: SecretDigest(of: Array(secret.utf8)),
                      hint: SecretFormat.hint(secret), allowIPs: .only([try! IPNetwork.parse("10.0.0.0/8").get()]), createdAt: 1000, expiresAt: expires)
    }

    func pair(_ account: String = "acme", at: Timestamp = 1) -> ClientPair {
        ClientPair(clientID: Identifier.clientID(), account: account, secretDigest: SecretDigest(of: Array(SecretFormat.generate(.clientSecret).utf8)),
                   allowIPs: .any, createdAt: at)
    }

    func token(_ p: ClientPair, expires: Timestamp = 5000) -> AccessToken {
        AccessToken(digest: SecretDigest(of: Array(SecretFormat.generate(.accessToken).utf8)), clientID: p.clientID, account: p.account,
                    scope: "read", issuedAt: 1, expiresAt: expires)
    }

    func contractEmptyThenEverythingSurvivesInCreationOrder() throws {
        let (store, reopen) = try makeStore()
        XCTAssertTrue(try store.loadAll().keys.isEmpty)
        let keys = (0..<5).map { key("k\($0)") }
        let p = pair()
        let t = token(p)
        try store.transaction(usage: []) { foreign in
            XCTAssertEqual(foreign.count, 0)
            return keys.map { .keyCreated($0) } + [.clientReplaced(p, previousRetiresAt: nil), .tokenIssued(t)]
        }
        try store.transaction(usage: [KeyUse(keyID: keys[1].id, at: 1500, ip: "10.1.1.1")]) { _ in [.keyDeleted(id: keys[0].id)] }
        let snap = try reopen().loadAll()
        XCTAssertEqual(snap.keys.map(\.name), ["k1", "k2", "k3", "k4"])
        XCTAssertEqual(snap.keys.first?.lastUsedAt, 1500)
        XCTAssertEqual(snap.keys.first?.lastUsedIP, "10.1.1.1")
        XCTAssertEqual(snap.keys[1], keys[2])
        XCTAssertEqual(snap.clients, [p])
        XCTAssertEqual(snap.tokens, [t])
    }

    func contractReplacementGraceRevocationAndPurge() throws {
        let (store, reopen) = try makeStore()
        let a = pair(at: 1), b = pair(at: 2)
        let ta = token(a), live = token(b, expires: 500), dead = token(b, expires: 50)
        try store.transaction(usage: []) { _ in [.clientReplaced(a, previousRetiresAt: nil), .tokenIssued(ta)] }
        try store.transaction(usage: []) { _ in [.clientReplaced(b, previousRetiresAt: 60), .tokenIssued(live), .tokenIssued(dead)] }
        XCTAssertEqual(Set(try reopen().loadAll().clients.map(\.clientID)), [a.clientID, b.clientID], "the old pair lingers in its grace")
        try store.transaction(usage: []) { _ in [.tokensRevoked([live.digest])] }
        XCTAssertEqual(try reopen().loadAll().tokens.first { $0.digest == live.digest }?.revoked, true)
        try store.commit([.purged(Expired(at: 100))], usage: [])
        let snap = try reopen().loadAll()
        XCTAssertEqual(snap.clients.map(\.clientID), [b.clientID])
        XCTAssertEqual(snap.tokens.map(\.digest), [live.digest], "expired tokens and the retired pair's tokens are gone")
        let c = pair(at: 3)
        try store.transaction(usage: []) { _ in [.clientReplaced(c, previousRetiresAt: nil)] }
        XCTAssertEqual(try reopen().loadAll().clients.map(\.clientID), [c.clientID])
        XCTAssertTrue(try reopen().loadAll().tokens.isEmpty, "tokens of a replaced pair go with it")
    }

    func contractUniqueNamesAreTheStoresToo() throws {
        let (store, reopen) = try makeStore()
        try store.transaction(usage: []) { _ in [.keyCreated(self.key("same"))] }
        XCTAssertThrowsError(try store.transaction(usage: []) { _ in [.keyCreated(self.key("other")), .keyCreated(self.key("same"))] })
        XCTAssertEqual(try reopen().loadAll().keys.map(\.name), ["same"], "a refused transaction stores nothing")
    }

    func contractARollAndItsGraceSurviveAndThePurgeEndsIt() throws {
        let (store, reopen) = try makeStore()
        var k = key("rolled")
        try store.transaction(usage: []) { _ in [.keyCreated(k)] }
        let first = k.digest
        k.previousDigest = first
        k.rollingUntil = 2000
        k.digest = SecretDigest(of: Array(SecretFormat.generate(.apiKey).utf8))
        k.hint = "kg_New12"
        let rolled = k
        try store.transaction(usage: []) { _ in [.keyRolled(rolled)] }
        let after = try reopen().loadAll().keys
        XCTAssertEqual(after, [rolled])
        // The purge before the grace ends keeps the old secret; after it, forgets it.
        try store.commit([.purged(Expired(at: 1999))], usage: [])
        XCTAssertEqual(try reopen().loadAll().keys.first?.previousDigest, first)
        try store.commit([.purged(Expired(at: 2000, rolls: [k.id]))], usage: [])
        let swept = try reopen().loadAll().keys
        XCTAssertEqual(swept.first?.digest, rolled.digest)
        XCTAssertNil(swept.first?.previousDigest)
        XCTAssertNil(swept.first?.rollingUntil)
    }

    func contractUsageAddsUpAndGoesWithItsKey() throws {
        let (store, reopen) = try makeStore()
        let a = key("a"), b = key("b")
        try store.transaction(usage: []) { _ in [.keyCreated(a), .keyCreated(b)] }
        let day: Int32 = 20_000
        func cell(_ k: APIKey, _ r: UsageResult, _ d: Int32 = day) -> UsageCell { UsageCell(subject: .key(k.id), day: d, result: r) }
        try store.commit([], usage: [], counts: [cell(a, .valid): 3, cell(a, .ipNotAllowed): 1, cell(b, .valid): 7, cell(a, .valid, day - 40): 9])
        // Another handle (a restart, or another host) adds to the same counters.
        let other = try reopen()
        try other.transaction(usage: [], counts: [cell(a, .valid): 2]) { _ in [.keyUpdated(b)] }
        XCTAssertEqual(try store.usage(of: .key(a.id), fromDay: day - 29), [cell(a, .valid): 5, cell(a, .ipNotAllowed): 1])
        XCTAssertEqual(try other.usage(of: .key(b.id), fromDay: day - 29), [cell(b, .valid): 7])
        // The sweep drops what is older than the window; deleting a key drops its counters.
        try store.commit([.purged(Expired(at: Int64(day) * 86400))], usage: [])
        XCTAssertEqual(try store.usage(of: .key(a.id), fromDay: 0), [cell(a, .valid): 5, cell(a, .ipNotAllowed): 1])
        try store.transaction(usage: []) { _ in [.keyDeleted(id: a.id)] }
        XCTAssertEqual(try reopen().usage(of: .key(a.id), fromDay: 0), [:])
        XCTAssertEqual(try reopen().usage(of: .key(b.id), fromDay: 0), [cell(b, .valid): 7])
    }

    func contractNoSecretReachesTheStore() throws {
        let (store, _) = try makeStore()
        let secret = SecretFormat.generate(.apiKey)
        let k = APIKey(id: Identifier.keyID(), account: "acme", name: "n", digest: SecretDigest(of: Array(secret.utf8)), hint: SecretFormat.hint(secret),
                       allowIPs: .any, createdAt: 1, expiresAt: nil)
        try store.transaction(usage: []) { _ in [.keyCreated(k)] }
        let dump = try dumpText()
        XCTAssertFalse(dump.isEmpty)
        XCTAssertFalse(dump.contains(secret), "the secret itself never reaches the store")
        XCTAssertFalse(dump.contains(String(secret.dropFirst(8))))
    }
}

final class SQLiteStoreContractTests: XCTestCase, StoreContract {
    func testEmptyThenEverythingSurvivesInCreationOrder() throws { try contractEmptyThenEverythingSurvivesInCreationOrder() }
    func testReplacementGraceRevocationAndPurge() throws { try contractReplacementGraceRevocationAndPurge() }
    func testUniqueNamesAreTheStoresToo() throws { try contractUniqueNamesAreTheStoresToo() }
    func testNoSecretReachesTheStore() throws { try contractNoSecretReachesTheStore() }
    func testARollAndItsGraceSurviveAndThePurgeEndsIt() throws { try contractARollAndItsGraceSurviveAndThePurgeEndsIt() }
    func testUsageAddsUpAndGoesWithItsKey() throws { try contractUsageAddsUpAndGoesWithItsKey() }
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kg-contract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }
    func makeStore() throws -> (first: CredentialStore, second: () throws -> CredentialStore) {
        let path = dir.appendingPathComponent("k.db").path
        return (try Store(path: path), { try Store(path: path) })
    }
    func dumpText() throws -> String {
        let path = dir.appendingPathComponent("k.db").path
        let data = (try Data(contentsOf: URL(fileURLWithPath: path))) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        return String(decoding: data, as: UTF8.self)
    }
}

/// A database of its own in the private cluster, per test.
enum TestDatabase {
    static var socketDir: String? { ProcessInfo.processInfo.environment["KEYGATE_TEST_PG_DIR"] }

    static func create() throws -> PostgresURL {
        guard let dir = socketDir else {
            throw XCTSkip("KEYGATE_TEST_PG_DIR is not set: run through Tests/system/with-postgres.sh (make test does)")
        }
        let name = "kgtest_" + String(decoding: Base62.random(count: 10), as: UTF8.self).lowercased()
        try psql(dir, "CREATE DATABASE \(name)")
        return try PostgresURL.parse("postgresql://postgres@/\(name)?host=\(dir)").get()
    }

    @discardableResult
    static func psql(_ dir: String, _ sql: String, database: String = "postgres") throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        p.arguments = ["-h", dir, "-U", "postgres", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw NSError(domain: "psql", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: text]) }
        return text
    }
}

final class PostgresStoreContractTests: XCTestCase, StoreContract {
    func testEmptyThenEverythingSurvivesInCreationOrder() throws { try contractEmptyThenEverythingSurvivesInCreationOrder() }
    func testReplacementGraceRevocationAndPurge() throws { try contractReplacementGraceRevocationAndPurge() }
    func testUniqueNamesAreTheStoresToo() throws { try contractUniqueNamesAreTheStoresToo() }
    func testNoSecretReachesTheStore() throws { try contractNoSecretReachesTheStore() }
    func testARollAndItsGraceSurviveAndThePurgeEndsIt() throws { try contractARollAndItsGraceSurviveAndThePurgeEndsIt() }
    func testUsageAddsUpAndGoesWithItsKey() throws { try contractUsageAddsUpAndGoesWithItsKey() }
    var url: PostgresURL!
    func makeStore() throws -> (first: CredentialStore, second: () throws -> CredentialStore) {
        url = try TestDatabase.create()
        let u = url!
        let open = { () throws -> CredentialStore in try PostgresStore(url: u, password: nil, hostID: "test-\(UUID().uuidString)", logger: Logger(label: "test")) }
        return (try open(), open)
    }
    func dumpText() throws -> String {
        try TestDatabase.psql(TestDatabase.socketDir!, "SELECT * FROM api_keys; SELECT * FROM keygate_changes", database: url.database)
    }

    /// Two hosts: what one commits, the other reads from the feed, in order,
    /// and sees before validating its own batch.
    func testTheChangeFeedBetweenHosts() throws {
        let (a, open) = try makeStore()
        let b = try open()
        _ = try b.loadAll()
        let k1 = key("one"), k2 = key("two")
        try a.transaction(usage: []) { _ in [.keyCreated(k1)] }
        try a.transaction(usage: []) { _ in [.keyCreated(k2), .keyDeleted(id: k1.id)] }
        let seen = try b.changesFromOthers()
        XCTAssertEqual(seen.count, 3)
        guard case .keyCreated(let first) = seen[0], case .keyDeleted(let gone) = seen[2] else { return XCTFail("\(seen)") }
        XCTAssertEqual(first, k1)
        XCTAssertEqual(gone, k1.id)
        XCTAssertTrue(try b.changesFromOthers().isEmpty, "read once")
        XCTAssertTrue(try a.changesFromOthers().isEmpty, "a host does not read back its own changes")
        let k3 = key("three")
        try a.transaction(usage: []) { _ in [.keyCreated(k3)] }
        var foreignInB: [StateChange] = []
        try b.transaction(usage: []) { foreign in foreignInB = foreign; return [] }
        XCTAssertEqual(foreignInB.count, 1, "a write first reads what the other host committed")
        XCTAssertEqual(try b.lookUp(digest: k3.digest, kind: .apiKey).map { "\($0)" }, "\(StateChange.keyCreated(k3))")
        XCTAssertNil(try b.lookUp(digest: SecretDigest(of: [1, 2, 3]), kind: .apiKey))
        XCTAssertEqual(b.feedPosition, a.feedPosition)
    }

    func testMigrationsRunOnceForHostsStartingTogether() throws {
        url = try TestDatabase.create()
        let u = url!
        let group = DispatchGroup()
        final class Errors: @unchecked Sendable { var list: [Error] = []; let lock = NSLock() }
        let errors = Errors()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                do { _ = try PostgresStore(url: u, password: nil, hostID: UUID().uuidString, logger: Logger(label: "t")) } catch {
                    errors.lock.lock(); errors.list.append(error); errors.lock.unlock()
                }
            }
        }
        group.wait()
        XCTAssertTrue(errors.list.isEmpty, "\(errors.list)")
        XCTAssertEqual(try TestDatabase.psql(TestDatabase.socketDir!, "SELECT count(*) FROM keygate_migrations", database: u.database)
                        .trimmingCharacters(in: .whitespacesAndNewlines), "2")  // v1, v2-roll-usage
    }
}
