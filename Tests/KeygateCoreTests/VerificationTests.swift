import Foundation
import XCTest
@testable import KeygateCore

final class VerificationTests: XCTestCase {
    var index = CredentialIndex()
    var policies = PolicyBook()
    let t0: Timestamp = 1_800_000_000

    func addKey(account: String = "acme", name: String = "k", allow: IPAllowList = .any, expiresAt: Timestamp? = nil) -> (String, APIKey) {
        let secret = SecretFormat.generate(.apiKey)
        let key = APIKey(id: Identifier.keyID(), account: account, name: name, digest: SecretDigest(of: Array(secret.utf8)),
                         hint: SecretFormat.hint(secret), allowIPs: allow, createdAt: t0, expiresAt: expiresAt)
        index.apply(.keyCreated(key))
        return (secret, key)
    }

    func decide(_ secret: String, ip: String? = nil, at now: Timestamp) -> Verdict {
        Verifier.decide(secret: Array(secret.utf8), ip: ip.flatMap(IPAddress.init), now: now, index: index, policies: policies)
    }

    func code(_ v: Verdict) -> String {
        switch v {
        case .apiKey: return "valid"
        case .accessToken: return "valid-token"
        case .refused(let c): return c.rawValue
        }
    }

    func testValidUnknownMalformed() {
        let (secret, _) = addKey()
        XCTAssertEqual(code(decide(secret, at: t0)), "valid")
        XCTAssertEqual(code(decide(SecretFormat.generate(.apiKey), at: t0)), "UNKNOWN")
        XCTAssertEqual(code(decide(String(secret.dropLast()) + "x", at: t0)), "MALFORMED")
        XCTAssertEqual(code(decide("not a key", at: t0)), "MALFORMED")
    }

    func testExpiryFromTheSecondItExpires() {
        let (secret, _) = addKey(expiresAt: t0 + 100)
        XCTAssertEqual(code(decide(secret, at: t0 + 99)), "valid")
        XCTAssertEqual(code(decide(secret, at: t0 + 100)), "EXPIRED")
        XCTAssertEqual(code(decide(secret, at: t0 + 10_000)), "EXPIRED")
    }

    func testKeyAndPolicyRestrictionsBothApply() {
        policies = PolicyBook(policies: ["default": Policy(name: "default", allowIPs: .only([try! IPNetwork.parse("10.0.0.0/8").get()]))])
        let (restricted, _) = addKey(allow: .only([try! IPNetwork.parse("10.1.0.0/16").get()]))
        XCTAssertEqual(code(decide(restricted, ip: "10.1.2.3", at: t0)), "valid")
        XCTAssertEqual(code(decide(restricted, ip: "10.2.0.1", at: t0)), "IP_NOT_ALLOWED", "policy allows it, the key does not")
        let (open, _) = addKey(name: "open")
        XCTAssertEqual(code(decide(open, ip: "192.0.2.1", at: t0)), "IP_NOT_ALLOWED", "key allows it, the policy does not")
        XCTAssertEqual(code(decide(open, ip: "::ffff:10.9.9.9", at: t0)), "valid", "mapped address matches IPv4 rule")
        XCTAssertEqual(code(decide(open, at: t0)), "IP_NOT_ALLOWED", "no address where a rule applies")
    }

    func testDeletedKeyIsUnknown() {
        let (secret, key) = addKey()
        index.apply(.keyDeleted(id: key.id))
        XCTAssertEqual(code(decide(secret, at: t0)), "UNKNOWN")
        XCTAssertEqual(index.keyCount(account: "acme"), 0)
    }

    func testPolicyResolutionFirstMatchWins() {
        policies = PolicyBook(policies: ["default": Policy(name: "default"), "partners": Policy(name: "partners", maxKeys: 10),
                                         "vip": Policy(name: "vip", maxKeys: 20)],
                              rules: [AccountRule(pattern: "partner-vip-*", policy: "vip"), AccountRule(pattern: "partner-*", policy: "partners")])
        XCTAssertEqual(policies.policy(for: "partner-vip-1").name, "vip")
        XCTAssertEqual(policies.policy(for: "partner-x").name, "partners")
        XCTAssertEqual(policies.policy(for: "acme").name, "default")
        XCTAssertTrue(AccountRule(pattern: "a?c*", policy: "p").matches("abcdef"))
        XCTAssertFalse(AccountRule(pattern: "a?c*", policy: "p").matches("ac"))
        XCTAssertTrue(AccountRule(pattern: "*", policy: "p").matches(""))
        XCTAssertTrue(AccountRule(pattern: "*@example.com", policy: "p").matches("ops@example.com"))
    }

    func testKeyLimitAndNames() throws {
        let policy = Policy(name: "default", maxKeys: 5)
        for i in 0..<5 {
            try KeyRules.checkCreate(account: "acme", name: "k\(i)", index: index, policy: policy, now: t0)
            _ = addKey(name: "k\(i)")
        }
        XCTAssertThrowsError(try KeyRules.checkCreate(account: "acme", name: "k5", index: index, policy: policy, now: t0)) {
            XCTAssertEqual($0 as? KeyRuleViolation, .limitReached(account: "acme", count: 5, limit: 5, policy: "default"))
        }
        XCTAssertNoThrow(try KeyRules.checkCreate(account: "other", name: "k0", index: index, policy: policy, now: t0))
        let bigger = Policy(name: "partners", maxKeys: 10)
        XCTAssertThrowsError(try KeyRules.checkCreate(account: "acme", name: "k1", index: index, policy: bigger, now: t0)) {
            XCTAssertEqual($0 as? KeyRuleViolation, .nameTaken(account: "acme", name: "k1"))
        }
    }

    func testExpiredKeysDoNotCountAndTheSweepRemovesThem() throws {
        let policy = Policy(name: "default", maxKeys: 2)
        let (old, oldKey) = addKey(name: "old", expiresAt: t0 + 10)
        _ = addKey(name: "current")
        XCTAssertThrowsError(try KeyRules.checkCreate(account: "acme", name: "new", index: index, policy: policy, now: t0 + 9))
        XCTAssertNoThrow(try KeyRules.checkCreate(account: "acme", name: "new", index: index, policy: policy, now: t0 + 10),
                         "an expired key waiting for the sweep does not hold a place")
        XCTAssertEqual(index.expired(at: t0 + 10), Expired(at: t0 + 10, keys: [oldKey.id]))
        XCTAssertEqual(code(decide(old, at: t0 + 10)), "EXPIRED")
        index.apply(.purged(index.expired(at: t0 + 10)))
        XCTAssertNil(index.key(id: oldKey.id))
        XCTAssertEqual(index.keyCount(account: "acme"), 1)
        XCTAssertEqual(code(decide(old, at: t0 + 10)), "UNKNOWN")
        XCTAssertEqual(index.expired(at: t0 + 10).count, 0)
    }

    func testEvictionKeepsAtMostMaxLiveTokens() {
        let pair = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("s".utf8)), allowIPs: .any, createdAt: t0)
        index.apply(.clientReplaced(pair, previousRetiresAt: nil))
        var issued: [SecretDigest] = []
        for i in 0..<10 {
            let evict = TokenRules.tokensToEvict(clientID: pair.clientID, index: index, now: t0, maxLive: 3)
            XCTAssertEqual(evict, i < 3 ? [] : [issued[i - 3]])
            index.apply(.tokensDropped(evict))
            let d = SecretDigest(of: Array("t\(i)".utf8))
            index.apply(.tokenIssued(AccessToken(digest: d, clientID: pair.clientID, account: "acme", scope: nil, issuedAt: t0, expiresAt: t0 + 60)))
            issued.append(d)
        }
        XCTAssertEqual(index.tokensByDigest.count, 3, "memory is bounded by max_live_per_client")
        XCTAssertEqual(index.liveTokenCounts(now: t0), ["acme": 3])
    }

    func testScopes() throws {
        let none = Policy(name: "default")
        let some = Policy(name: "partners", scopes: ["read", "write"])
        XCTAssertNil(try TokenRules.grantedScope(asked: nil, policy: none))
        XCTAssertEqual(try TokenRules.grantedScope(asked: nil, policy: some), "read write")
        XCTAssertEqual(try TokenRules.grantedScope(asked: "write read write", policy: some), "write read")
        XCTAssertThrowsError(try TokenRules.grantedScope(asked: "read", policy: none)) {
            XCTAssertEqual($0 as? ScopeViolation, .policyHasNoScopes(policy: "default"))
        }
        XCTAssertThrowsError(try TokenRules.grantedScope(asked: "read admin", policy: some)) {
            XCTAssertEqual($0 as? ScopeViolation, .notAllowed(scope: "admin", policy: "partners", allowed: ["read", "write"]))
        }
    }

    func testTokensExpireAndRevoke() {
        let pair = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("s".utf8)), allowIPs: .any, createdAt: t0)
        index.apply(.clientReplaced(pair, previousRetiresAt: nil))
        let secret = SecretFormat.generate(.accessToken)
        let token = AccessToken(digest: SecretDigest(of: Array(secret.utf8)), clientID: pair.clientID, account: "acme", scope: nil, issuedAt: t0, expiresAt: t0 + 3600)
        index.apply(.tokenIssued(token))
        if case .accessToken(_, _, let expiresIn) = decide(secret, at: t0 + 600) { XCTAssertEqual(expiresIn, 3000) } else { XCTFail() }
        XCTAssertEqual(code(decide(secret, at: t0 + 3600)), "EXPIRED")
        index.apply(.tokensRevoked([token.digest]))
        XCTAssertEqual(code(decide(secret, at: t0 + 1)), "REVOKED")
        index.apply(.purged(index.expired(at: t0 + 3600)))
        XCTAssertEqual(code(decide(secret, at: t0 + 1)), "UNKNOWN")
        XCTAssertTrue(index.tokensByDigest.isEmpty)
    }

    func testReplacedPairTakesItsTokensAlong() {
        let old = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("a".utf8)), allowIPs: .any, createdAt: t0)
        index.apply(.clientReplaced(old, previousRetiresAt: nil))
        let secret = SecretFormat.generate(.accessToken)
        index.apply(.tokenIssued(AccessToken(digest: SecretDigest(of: Array(secret.utf8)), clientID: old.clientID, account: "acme", scope: nil, issuedAt: t0, expiresAt: t0 + 3600)))
        let new = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("b".utf8)), allowIPs: .any, createdAt: t0 + 1)
        index.apply(.clientReplaced(new, previousRetiresAt: t0 + 60))
        XCTAssertEqual(code(decide(secret, at: t0 + 59)), "valid-token", "grace period")
        XCTAssertEqual(code(decide(secret, at: t0 + 60)), "REVOKED", "grace over")
        XCTAssertEqual(index.currentClient(account: "acme")?.clientID, new.clientID)
        let newer = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("c".utf8)), allowIPs: .any, createdAt: t0 + 2)
        let newSecret = SecretFormat.generate(.accessToken)
        index.apply(.tokenIssued(AccessToken(digest: SecretDigest(of: Array(newSecret.utf8)), clientID: new.clientID, account: "acme", scope: nil, issuedAt: t0 + 1, expiresAt: t0 + 3600)))
        XCTAssertEqual(code(decide(newSecret, at: t0 + 2)), "valid-token")
        index.apply(.clientReplaced(newer, previousRetiresAt: nil))
        XCTAssertNil(index.clientsByID[new.clientID])
        XCTAssertEqual(code(decide(newSecret, at: t0 + 2)), "REVOKED", "a replaced pair's tokens are refused as revoked")
        // The sweep forgets them once they expire.
        index.apply(.purged(index.expired(at: t0 + 3600)))
        XCTAssertEqual(code(decide(newSecret, at: t0 + 2)), "UNKNOWN")
        XCTAssertTrue(index.tokensByDigest.isEmpty)
    }
}

extension VerificationTests {
    /// Issue then revoke in a loop: revoked tokens count against the cap, so
    /// what the index holds for the client never exceeds it, and the newest
    /// revoked ones are still refused as REVOKED.
    func testRevokedTokensCountAgainstTheCap() {
        let pair = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array("s".utf8)), allowIPs: .any, createdAt: t0)
        index.apply(.clientReplaced(pair, previousRetiresAt: nil))
        var last: SecretDigest?
        for i in 0..<200 {
            let evict = TokenRules.tokensToEvict(clientID: pair.clientID, index: index, now: t0 + Int64(i), maxLive: 5)
            if i >= 5 { XCTAssertEqual(evict.count, 1, "round \(i)") }
            index.apply(.tokensDropped(evict))
            let d = SecretDigest(of: Array("r\(i)".utf8))
            index.apply(.tokenIssued(AccessToken(digest: d, clientID: pair.clientID, account: "acme", scope: nil, issuedAt: t0 + Int64(i), expiresAt: t0 + 3600)))
            index.apply(.tokensRevoked([d]))
            last = d
            XCTAssertLessThanOrEqual(index.tokensByDigest.count, 5)
        }
        XCTAssertEqual(index.heldTokens(client: pair.clientID).count, 5)
        XCTAssertEqual(index.tokensByDigest[last!]?.revoked, true)
        // A live token is kept over the revoked ones.
        let live = SecretDigest(of: Array("live".utf8))
        index.apply(.tokensDropped(TokenRules.tokensToEvict(clientID: pair.clientID, index: index, now: t0 + 300, maxLive: 5)))
        index.apply(.tokenIssued(AccessToken(digest: live, clientID: pair.clientID, account: "acme", scope: nil, issuedAt: t0 + 300, expiresAt: t0 + 3600)))
        for i in 0..<10 {
            let evict = TokenRules.tokensToEvict(clientID: pair.clientID, index: index, now: t0 + 301 + Int64(i), maxLive: 5)
            XCTAssertFalse(evict.contains(live), "a live token was forgotten while revoked ones were held")
            index.apply(.tokensDropped(evict))
            let d = SecretDigest(of: Array("x\(i)".utf8))
            index.apply(.tokenIssued(AccessToken(digest: d, clientID: pair.clientID, account: "acme", scope: nil, issuedAt: t0 + 301 + Int64(i), expiresAt: t0 + 3600)))
            index.apply(.tokensRevoked([d]))
        }
        XCTAssertNotNil(index.tokensByDigest[live])
    }
}
