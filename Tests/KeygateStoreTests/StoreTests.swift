import Foundation
import XCTest
import KeygateCore
@testable import KeygateStore

final class StoreTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("kg-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testWritingConnectionIsWALWithSynchronousFull() throws {
        let store = try Store(path: dir.appendingPathComponent("k.db").path)
        XCTAssertEqual(try store.journalMode(), "wal")
        XCTAssertEqual(try store.synchronousMode(), 2, "PRAGMA synchronous must be FULL (2), not GRDB's NORMAL for WAL")
    }

    func testChangesSurviveReopenAndOnlyDigestsAreStored() throws {
        let path = dir.appendingPathComponent("k.db").path
        let secret = SecretFormat.generate(.apiKey)
        let key = APIKey(id: Identifier.keyID(), account: "acme", name: "CRM sync", digest: SecretDigest(of: Array(secret.utf8)),
                         hint: SecretFormat.hint(secret), allowIPs: .only([try IPNetwork.parse("10.0.0.0/8").get(), try IPNetwork.parse("2001:db8::/32").get()]),
                         createdAt: 1000, expiresAt: 2000)
        let other = APIKey(id: Identifier.keyID(), account: "acme", name: "gone", digest: SecretDigest(of: Array("x".utf8)),
                           hint: "kg_xxxxx", allowIPs: .any, createdAt: 1000, expiresAt: nil)
        do {
            let store = try Store(path: path)
            try store.commit([.keyCreated(key), .keyCreated(other)])
            try store.commit([.keyDeleted(id: other.id)], usage: [Store.Usage(keyID: key.id, at: 1500, ip: "10.1.1.1")])
        }
        let reopened = try Store(path: path)
        let snap = try reopened.loadAll()
        XCTAssertEqual(snap.keys.count, 1)
        var expected = key
        expected.lastUsedAt = 1500
        expected.lastUsedIP = "10.1.1.1"
        XCTAssertEqual(snap.keys.first, expected)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path)) + ((try? Data(contentsOf: URL(fileURLWithPath: path + "-wal"))) ?? Data())
        XCTAssertNil(bytes.range(of: Data(secret.utf8)), "the secret itself must never reach the database")
        XCTAssertNil(bytes.range(of: Data(secret.utf8.dropFirst(8))), "not even past its hint")
    }

    func testClientReplacementAndTokenCascade() throws {
        let store = try Store(path: dir.appendingPathComponent("k.db").path)
        let a = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("a".utf8)), allowIPs: .any, createdAt: 1)
        let t = AccessToken(digest: SecretDigest(of: Array("t".utf8)), clientID: a.clientID, account: "acme", scope: "read", issuedAt: 1, expiresAt: 100)
        try store.commit([.clientReplaced(a, previousRetiresAt: nil), .tokenIssued(t)])
        XCTAssertEqual(try store.loadAll().tokens, [t])
        let b = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("b".utf8)), allowIPs: .any, createdAt: 2)
        try store.commit([.clientReplaced(b, previousRetiresAt: nil)])
        let snap = try store.loadAll()
        XCTAssertEqual(snap.clients.map(\.clientID), [b.clientID])
        XCTAssertTrue(snap.tokens.isEmpty, "tokens of a replaced pair go with it")
    }

    func testGraceAndPurge() throws {
        let store = try Store(path: dir.appendingPathComponent("k.db").path)
        let a = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("a".utf8)), allowIPs: .any, createdAt: 1)
        let b = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("b".utf8)), allowIPs: .any, createdAt: 2)
        let live = AccessToken(digest: SecretDigest(of: Array("l".utf8)), clientID: b.clientID, account: "acme", scope: nil, issuedAt: 2, expiresAt: 500)
        let dead = AccessToken(digest: SecretDigest(of: Array("d".utf8)), clientID: b.clientID, account: "acme", scope: nil, issuedAt: 2, expiresAt: 50)
        try store.commit([.clientReplaced(a, previousRetiresAt: nil), .clientReplaced(b, previousRetiresAt: 60), .tokenIssued(live), .tokenIssued(dead)])
        XCTAssertEqual(Set(try store.loadAll().clients.map(\.clientID)), [a.clientID, b.clientID])
        try store.commit([.purged(Expired(at: 100))])
        let snap = try store.loadAll()
        XCTAssertEqual(snap.clients.map(\.clientID), [b.clientID])
        XCTAssertEqual(snap.tokens, [live])
    }
}
