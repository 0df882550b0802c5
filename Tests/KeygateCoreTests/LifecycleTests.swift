import XCTest
@testable import KeygateCore

/// SPEC 12's rules as pure functions: rolls in the index and the verifier,
/// leak plans, the scanner's candidates, usage days.
final class LifecycleTests: XCTestCase {
    var index = CredentialIndex()
    let policies = PolicyBook()
    let t0: Timestamp = 1_800_000_000

    func addKey(_ name: String = "k", expiresAt: Timestamp? = nil) -> (String, APIKey) {
        let secret = SecretFormat.generate(.apiKey)
        let key = APIKey(id: Identifier.keyID(), account: "acme", name: name, digest: SecretDigest(of: Array(secret.utf8)),
                         hint: SecretFormat.hint(secret), allowIPs: .any, createdAt: t0, expiresAt: expiresAt)
        index.apply(.keyCreated(key))
        return (secret, key)
    }

    func roll(_ key: APIKey, until: Timestamp) -> (String, APIKey) {
        var k = index.key(id: key.id)!
        let secret = SecretFormat.generate(.apiKey)
        k.previousDigest = k.digest
        k.rollingUntil = until
        k.digest = SecretDigest(of: Array(secret.utf8))
        k.hint = SecretFormat.hint(secret)
        index.apply(.keyRolled(k))
        return (secret, k)
    }

    func code(_ secret: String, at now: Timestamp) -> String {
        switch Verifier.decide(secret: Array(secret.utf8), ip: nil, now: now, index: index, policies: policies) {
        case .apiKey: return "valid"
        case .accessToken: return "valid-token"
        case .refused(let c): return c.rawValue
        }
    }

    func testTheOldSecretWorksUntilTheGraceEndsThenIsRevokedWithOrWithoutASweep() {
        let (old, key) = addKey()
        let (new, _) = roll(key, until: t0 + 10)
        XCTAssertEqual(index.keyCount, 1)
        XCTAssertEqual(code(old, at: t0 + 9), "valid")
        XCTAssertEqual(code(new, at: t0 + 9), "valid")
        XCTAssertEqual(code(old, at: t0 + 10), "REVOKED")
        XCTAssertEqual(code(new, at: t0 + 10), "valid")
        XCTAssertEqual(index.acceptedKey(SecretDigest(of: Array(old.utf8)), now: t0 + 9)?.id, key.id)
        XCTAssertNil(index.acceptedKey(SecretDigest(of: Array(old.utf8)), now: t0 + 10))
        // The sweep forgets the old secret (UNKNOWN from then on) and keeps the key.
        let e = index.expired(at: t0 + 10)
        XCTAssertEqual(e.rolls, [key.id])
        XCTAssertEqual(e.keys, [])
        index.apply(.purged(e))
        XCTAssertEqual(code(old, at: t0 + 11), "UNKNOWN")
        XCTAssertEqual(code(new, at: t0 + 11), "valid")
        XCTAssertNil(index.key(id: key.id)?.rollingUntil)
        XCTAssertEqual(index.expired(at: t0 + 12).count, 0)
    }

    func testASecondRollForgetsTheFirstSecretAndDeleteForgetsThemAll() {
        let (first, key) = addKey()
        let (second, k1) = roll(key, until: t0 + 100)
        let (third, _) = roll(k1, until: t0 + 100)
        XCTAssertEqual(code(first, at: t0), "UNKNOWN")
        XCTAssertEqual(code(second, at: t0), "valid")
        XCTAssertEqual(code(third, at: t0), "valid")
        XCTAssertEqual(index.keys(account: "acme").count, 1)
        index.apply(.keyDeleted(id: key.id))
        for s in [first, second, third] { XCTAssertEqual(code(s, at: t0), "UNKNOWN") }
        XCTAssertEqual(index.keyCount, 0)
        XCTAssertTrue(index.keysByDigest.isEmpty)
    }

    func testRenamingARollingKeyKeepsBothSecrets() {
        let (old, key) = addKey()
        let (new, rolled) = roll(key, until: t0 + 100)
        var k = rolled
        k.name = "renamed"
        index.apply(.keyUpdated(k))
        XCTAssertEqual(code(old, at: t0), "valid")
        XCTAssertEqual(code(new, at: t0), "valid")
        // Ending the grace by an update (a leaked old secret) forgets it at once.
        k.previousDigest = nil
        k.rollingUntil = nil
        index.apply(.keyUpdated(k))
        XCTAssertEqual(code(old, at: t0), "UNKNOWN")
        XCTAssertEqual(code(new, at: t0), "valid")
    }

    func testALeakPlanDecidesPerKindAndOncePerSecret() {
        let (live, key) = addKey("live")
        let (expired, _) = addKey("expired", expiresAt: t0 - 1)
        let (old, _) = roll(addKey("rolled").1, until: t0 + 100)
        let clientSecret = SecretFormat.generate(.clientSecret)
        let p = ClientPair(clientID: Identifier.clientID(), account: "acme", secretDigest: SecretDigest(of: Array(clientSecret.utf8)),
                           allowIPs: .any, createdAt: t0)
        index.apply(.clientReplaced(p, previousRetiresAt: nil))
        let token = SecretFormat.generate(.accessToken)
        index.apply(.tokenIssued(AccessToken(digest: SecretDigest(of: Array(token.utf8)), clientID: p.clientID, account: "acme",
                                             scope: nil, issuedAt: t0, expiresAt: t0 + 3600)))
        XCTAssertEqual(code(old, at: t0), "valid")
        let rolledOld = index.keys(account: "acme").first { $0.name == "rolled" }!
        XCTAssertNotNil(rolledOld.previousDigest)
        let unknown = SecretFormat.generate(.apiKey)
        var plan = LeakPlan(index: index, now: t0, dryRun: false)
        let secrets = [live, expired, token, clientSecret, unknown, live].map { LeakedSecret(secret: $0)! }
        let outcomes = secrets.map { plan.handle($0) }
        XCTAssertEqual(outcomes.map(\.action), [.deleted, .none, .revoked, .reported, .none, .deleted])
        XCTAssertEqual(outcomes.map(\.account), ["acme", "acme", "acme", "acme", nil, "acme"])
        XCTAssertEqual(outcomes[0].keyID, key.id)
        XCTAssertEqual(outcomes.map(\.repeated), [false, false, false, false, false, true])
        XCTAssertEqual(outcomes.map(\.hint), [live, expired, token, clientSecret, unknown, live].map(SecretFormat.hint))
        XCTAssertEqual(plan.changes.count, 2)  // the key once, the token
        var graced = LeakPlan(index: index, now: t0, dryRun: true)
        // A rolled key's previous secret: its grace ends, the key stays.
        let oldSecretOutcome = graced.handle(LeakedSecret(kind: .apiKey, digest: rolledOld.previousDigest!, hint: "kg_Old00"))
        XCTAssertEqual(oldSecretOutcome.action, .revoked)
        guard case .keyUpdated(let ended)? = graced.changes.first else { return XCTFail("\(graced.changes)") }
        XCTAssertNil(ended.previousDigest)
        XCTAssertEqual(ended.digest, rolledOld.digest)
        XCTAssertNil(LeakedSecret(secret: String(live.dropLast()) + (live.last == "A" ? "B" : "A")))
    }

    func testWhyNotNamesTheFaultWithoutTheText() {
        let s = SecretFormat.generate(.apiKey)
        XCTAssertEqual(SecretFormat.whyNot("password123"), "11 bytes that start with none of kg_, kgs_, kgat_")
        XCTAssertEqual(SecretFormat.whyNot(s + "x"), "kg_ followed by 47 characters; expected 46")
        XCTAssertEqual(SecretFormat.whyNot("kg_" + String(repeating: "-", count: 46)), "kg_ with characters outside A-Z a-z 0-9")
        let broken = String(s.dropLast()) + (s.last == "A" ? "B" : "A")
        XCTAssertTrue(SecretFormat.whyNot(broken).contains("checksum"))
        XCTAssertFalse(SecretFormat.whyNot(broken).contains(broken.dropFirst(3).prefix(10)))
    }

    func testTheScannerFindsSecretsAndNothingElse() {
        let key = SecretFormat.generate(.apiKey), token = SecretFormat.generate(.accessToken), cs = SecretFormat.generate(.clientSecret)
        let broken = String(key.dropLast()) + (key.last == "A" ? "B" : "A")
        let text = """
            API_KEY = "\(key)"
            kg_config_value = 3; kg_ alone; kgat_short
            token: \(token) secret=\(cs)
            glued x\(key) and \(key)x and \(key)_ and \(broken)
            url https://h/?k=\(key)&x=1
            """
        let found = SecretScanner.findings(in: Array(text.utf8))
        XCTAssertEqual(found.map(\.line), [1, 3, 3, 5])
        XCTAssertEqual(found.map(\.kind), [.apiKey, .accessToken, .clientSecret, .apiKey])
        XCTAssertEqual(found.map(\.secret), [key, token, cs, key])
        XCTAssertTrue(SecretScanner.looksBinary([0x41, 0, 0x42]))
        XCTAssertFalse(SecretScanner.looksBinary(Array(text.utf8)))
    }

    func testUsageDaysAndDates() {
        XCTAssertEqual(UsageWindow.date(ofDay: 0), "1970-01-01")
        XCTAssertEqual(UsageWindow.date(ofDay: UsageWindow.day(of: 1_796_198_400)), "2026-12-02")
        XCTAssertEqual(UsageWindow.date(ofDay: UsageWindow.day(of: 951_782_400)), "2000-02-29")
        XCTAssertEqual(UsageWindow.day(of: 86_399), 0)
        XCTAssertEqual(UsageWindow.day(of: 86_400), 1)
        let today = UsageWindow.day(of: t0)
        XCTAssertEqual(UsageWindow.firstDay(at: t0), today - 29)
        let k = UsageSubject.key("key_a"), c = UsageSubject.client("kgc_b")
        let counts: UsageCounts = [
            UsageCell(subject: k, day: today, result: .valid): 3,
            UsageCell(subject: k, day: today, result: .ipNotAllowed): 2,
            UsageCell(subject: k, day: today - 1, result: .expired): 1,
            UsageCell(subject: k, day: today - 30, result: .valid): 9,
            UsageCell(subject: c, day: today, result: .tokenIssued): 4,
        ]
        XCTAssertEqual(UsageDay.days(of: k, in: counts, from: today - 29),
                       [UsageDay(day: today - 1, refused: ["EXPIRED": 1]), UsageDay(day: today, valid: 3, refused: ["IP_NOT_ALLOWED": 2])])
        XCTAssertEqual(UsageDay.days(of: c, in: counts, from: today - 29), [UsageDay(day: today, tokensIssued: 4)])
        XCTAssertEqual(UsageSubject(text: k.text), k)
        XCTAssertEqual(UsageSubject(text: c.text), c)
        for r in UsageResult.allCases { XCTAssertEqual(UsageResult(text: r.text), r) }
    }
}
