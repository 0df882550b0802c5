import XCTest
import KeygateCore

/// The rules that moved out of the handlers into KeygateCore.
final class DomainRuleTests: XCTestCase {
    let now: Timestamp = 1_000_000

    func index() -> (CredentialIndex, secret: String, pair: ClientPair, token: String, key: String) {
        let secret = SecretFormat.generate(.clientSecret)
        let pair = ClientPair(clientID: "kgc_" + String(repeating: "a", count: 24), account: "acme",
                              secretDigest: SecretDigest(of: Array(secret.utf8)), allowIPs: .any, createdAt: now - 10)
        let token = SecretFormat.generate(.accessToken)
        let t = AccessToken(digest: SecretDigest(of: Array(token.utf8)), clientID: pair.clientID, account: "acme", scope: nil,
                            issuedAt: now - 5, expiresAt: now + 100)
        let key = SecretFormat.generate(.apiKey)
        let k = APIKey(id: "key_" + String(repeating: "b", count: 16), account: "acme", name: "k", digest: SecretDigest(of: Array(key.utf8)),
                       hint: SecretFormat.hint(key), allowIPs: .any, createdAt: now - 20, expiresAt: now + 50)
        return (CredentialIndex(keys: [k], clients: [pair], tokens: [t]), secret, pair, token, key)
    }

    func testClientAuthentication() {
        let (idx, secret, pair, _, _) = index()
        XCTAssertEqual(ClientAuthentication.authenticate(clientID: pair.clientID, secret: secret, index: idx, now: now)?.clientID, pair.clientID)
        XCTAssertNil(ClientAuthentication.authenticate(clientID: pair.clientID, secret: SecretFormat.generate(.clientSecret), index: idx, now: now))
        XCTAssertNil(ClientAuthentication.authenticate(clientID: "kgc_unknown", secret: secret, index: idx, now: now))
        XCTAssertNil(ClientAuthentication.authenticate(clientID: pair.clientID, secret: String(secret.dropLast()) + "x", index: idx, now: now))
        var retired = idx
        let next = ClientPair(clientID: "kgc_" + String(repeating: "c", count: 24), account: "acme", secretDigest: SecretDigest(of: [9]),
                              allowIPs: .any, createdAt: now)
        retired.apply(.clientReplaced(next, previousRetiresAt: now + 10))
        XCTAssertNotNil(ClientAuthentication.authenticate(clientID: pair.clientID, secret: secret, index: retired, now: now + 9), "in its grace")
        XCTAssertNil(ClientAuthentication.authenticate(clientID: pair.clientID, secret: secret, index: retired, now: now + 10), "from the second it retires")
    }

    func testIntrospectionAndTheOneDefinitionOfLive() {
        var (idx, _, pair, token, key) = index()
        guard case .accessToken(let t) = Introspection.inspect(token, index: idx, now: now) else { return XCTFail() }
        XCTAssertTrue(t.isLive(at: now))
        XCTAssertEqual(Introspection.inspect(token, index: idx, now: now + 100), .inactive, "expired at expires_at")
        guard case .apiKey = Introspection.inspect(key, index: idx, now: now) else { return XCTFail() }
        XCTAssertEqual(Introspection.inspect(key, index: idx, now: now + 50), .inactive)
        XCTAssertEqual(Introspection.inspect(SecretFormat.generate(.clientSecret), index: idx, now: now), .inactive)
        XCTAssertEqual(Introspection.inspect("kg_garbage", index: idx, now: now), .inactive)
        XCTAssertEqual(TokenRules.liveTokens(account: "acme", index: idx, now: now).count, 1)
        idx.apply(.tokensRevoked(TokenRules.liveTokens(account: "acme", index: idx, now: now)))
        XCTAssertEqual(Introspection.inspect(token, index: idx, now: now), .inactive)
        XCTAssertEqual(idx.liveTokenCount(account: "acme", now: now), 0)
        XCTAssertEqual(TokenRules.liveTokens(account: "acme", index: idx, now: now), [])
        _ = pair
    }

    func testNames() throws {
        XCTAssertEqual(try KeyName.validate("  CRM sync\t"), "CRM sync", "tabs are white space, trimmed before the control check")
        XCTAssertThrowsError(try KeyName.validate(" \u{3000} ")) { XCTAssertEqual($0 as? KeygateError, .invalidArgument("'name' must not be empty")) }
        XCTAssertThrowsError(try KeyName.validate("a\u{7}b"))
        XCTAssertThrowsError(try KeyName.validate(String(repeating: "é", count: 101))) {
            XCTAssertEqual($0 as? KeygateError, .invalidArgument("'name' is 101 characters; at most 100"))
        }
        // Code points, as JSON Schema counts: 100 combining sequences of 2 code points are 200.
        XCTAssertThrowsError(try KeyName.validate(String(repeating: "e\u{301}", count: 60)))
        XCTAssertThrowsError(try KeyName.validate("kg_" + String(repeating: "A", count: 10)))
        XCTAssertEqual(try KeyName.validate("pkg_ci"), "pkg_ci")
        XCTAssertThrowsError(try AccountName.validateNew("kg_AAAAAAAAAA"))
        XCTAssertNoThrow(try AccountName.validateNew("backup_kg_eu"))
    }
}
