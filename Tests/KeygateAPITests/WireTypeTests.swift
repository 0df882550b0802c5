import XCTest
@testable import KeygateAPI
import KeygateCore

/// Every wire type decodes what it encodes, and its example fits its own rules.
final class WireTypeTests: XCTestCase {
    func roundTrip<T: WireType & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        let json = value.json
        let back = try T(json: try JSON.parse(json.serialized()))
        XCTAssertEqual(back, value, "\(T.self) does not survive a round trip", file: file, line: line)
        XCTAssertEqual(back.json, json, file: file, line: line)
    }

    func testExamplesRoundTrip() throws {
        try roundTrip(KeyView.example)
        try roundTrip(KeyList.example)
        try roundTrip(CreatedKey.example)
        try roundTrip(CreateKeyRequest.example)
        try roundTrip(UpdateKeyRequest.example)
        try roundTrip(ClientView.example)
        try roundTrip(GenerateClientRequest.example)
        try roundTrip(GeneratedClient.example)
        try roundTrip(TokensRevoked.example)
        try roundTrip(AccountSummary.example)
        try roundTrip(AccountList.example)
        try roundTrip(StatusView.example)
        try roundTrip(ReloadResult.example)
        try roundTrip(VerifyRequest.example)
        try roundTrip(VerifyResponse.example)
        try roundTrip(HealthResponse.example)
        try roundTrip(TokenResponse.example)
        try roundTrip(IntrospectionResponse.example)
    }

    func testEveryVariantRoundTrips() throws {
        try roundTrip(VerifyResponse.accessToken(account: "a@b", clientID: "kgc_" + String(repeating: "x", count: 24), scope: nil, expiresIn: 5))
        try roundTrip(VerifyResponse.accessToken(account: "a", clientID: "kgc_" + String(repeating: "y", count: 24), scope: "read write", expiresIn: 3600))
        for code in VerifyResponse.refusalCodes { try roundTrip(VerifyResponse.refused(code: code)) }
        try roundTrip(IntrospectionResponse.apiKey(account: "acme", keyID: "key_4fT9aQ2mZ8bW1cXe", issuedAt: 1, expiresAt: nil))
        try roundTrip(IntrospectionResponse.apiKey(account: "acme", keyID: "key_4fT9aQ2mZ8bW1cXe", issuedAt: 1, expiresAt: 99))
        try roundTrip(IntrospectionResponse.inactive)
        var c = ClientView.example
        c.retiring = [ClientView(clientID: "kgc_" + String(repeating: "r", count: 24), account: "acme", createdAt: 5,
                                 allowIPs: ["10.0.0.0/8"], liveTokens: nil, retiresAt: 99, retiring: nil)]
        try roundTrip(c)
    }

    /// Field names once shipped never change (STYLE habit 6): the exact bytes.
    func testShippedFieldNames() {
        XCTAssertEqual(VerifyResponse.example.json.text,
                       #"{"valid":true,"kind":"api_key","account":"acme","key_id":"key_4fT9aQ2mZ8bW1cXe","name":"CRM sync","policy":"default"}"#)
        XCTAssertEqual(KeyView.example.json.objectValue?.keys,
                       ["id", "name", "hint", "allow_ips", "created_at", "expires_at", "last_used_at", "last_used_ip", "rolling_until"])
        XCTAssertEqual(CreatedKey.example.json.objectValue?.keys.suffix(2), ["account", "key"])
        XCTAssertEqual(RolledKey.example.json.objectValue?.keys.suffix(4), ["account", "key", "previous_hint", "previous_accepted_until"])
        XCTAssertEqual(UsageReport.example.json.text,
                       #"{"account":"acme","from":"2025-11-03","to":"2025-12-02","days":[{"date":"2025-12-02","valid":123,"refused":{"IP_NOT_ALLOWED":4}}],"key_id":"key_4fT9aQ2mZ8bW1cXe"}"#)
        XCTAssertEqual(LeakResult.example.json.objectValue?.keys, ["hint", "kind", "account", "action", "key_id"])
        XCTAssertEqual(TokenResponse.example.json.objectValue?.keys, ["access_token", "token_type", "expires_in", "scope"])
        XCTAssertEqual(APIError(409, "key_limit_reached", "m", extra: ["limit": 5]).json.text,
                       #"{"error":"key_limit_reached","error_description":"m","limit":5}"#)
    }

    func testAnswersWithMissingFieldsAreNamed() {
        XCTAssertThrowsError(try KeyView(json: ["id": "key_x"])) { e in
            XCTAssertEqual("\(e)", "Key: 'name' is missing or has the wrong type")
        }
        XCTAssertThrowsError(try VerifyResponse(json: ["valid": true, "kind": "password"]))
    }

    func testRequestsRefuseUnknownFieldsAndWrongTypes() {
        XCTAssertThrowsError(try CreateKeyRequest(json: ["name": "x", "colour": "red"])) { e in
            XCTAssertEqual((e as? APIError)?.message, "create key: unknown field 'colour'; expected name, allow_ips, expires_in")
        }
        XCTAssertThrowsError(try UpdateKeyRequest(json: [:])) { e in
            XCTAssertEqual((e as? APIError)?.message, "update key: give 'name', 'allow_ips' or both")
        }
        XCTAssertThrowsError(try GenerateClientRequest(json: ["grace": 5])) { e in
            XCTAssertEqual((e as? APIError)?.message, "generate client: 'grace' must be a string, got a number")
        }
        XCTAssertEqual(try GenerateClientRequest(json: Optional<JSON>.none), GenerateClientRequest(), "no body: the defaults")
        XCTAssertThrowsError(try GenerateClientRequest(json: JSON.null), "a body of null is not an object")
    }

    func testValidationTurnsWireValuesIntoDomainValues() throws {
        let k = try CreateKeyRequest(name: "  CRM sync ", allowIPs: ["203.0.113.7", "203.0.113.7/32"], expiresIn: "90d").validated()
        XCTAssertEqual(k.name, "CRM sync")
        XCTAssertEqual(k.allowIPs.networks.count, 1, "duplicates are folded")
        XCTAssertEqual(k.expiresIn, 90 * 86400)
        XCTAssertEqual(try UpdateKeyRequest(allowIPs: []).validated().allowIPs, .any)
        XCTAssertThrowsError(try CreateKeyRequest(name: "x", allowIPs: ["kg_" + String(repeating: "a", count: 46)]).validated()) { e in
            XCTAssertEqual((e as? APIError)?.message, "create key: allow_ips: an entry looks like a Keygate secret, not an address")
        }
        XCTAssertThrowsError(try GenerateClientRequest(grace: "31d").validated()) { e in
            XCTAssertEqual((e as? APIError)?.message, "generate client: 'grace' of 31d is out of range; expected 1s to 30d")
        }
    }
}

final class TrimmedTests: XCTestCase {
    func testTrimmedTakesOffOnlyTheEnds() {
        XCTAssertEqual("  a b\t".trimmed(" \t"), "a b")
        XCTAssertEqual("\t\t ".trimmed(" \t"), "")
        XCTAssertEqual("".trimmed(" \t"), "")
        XCTAssertEqual(" é\u{301} ".trimmed(" "), "é\u{301}")
        XCTAssertEqual("xxaxx"[...].trimmed("x"), "a")
        XCTAssertEqual("ééaé".trimmed("é"), "a")
        XCTAssertEqual(try BasicCredentials.parse("Basic  \(Data("id:se%3Acret".utf8).base64EncodedString()) \t")?.secret, "se:cret")
    }
}
