import Foundation
import XCTest
@testable import KeygateAPI

final class FormTests: XCTestCase {
    func testComponentDecoding() throws {
        XCTAssertEqual(try FormURLEncoded.decodeComponent("a%2Bb+c%3Ad%25e"), "a+b c:d%e")
        XCTAssertEqual(try FormURLEncoded.decodeComponent("%C3%A9"), "é")
        XCTAssertThrowsError(try FormURLEncoded.decodeComponent("abc%"))
        XCTAssertThrowsError(try FormURLEncoded.decodeComponent("abc%G1"))
        XCTAssertThrowsError(try FormURLEncoded.decodeComponent("%FF"), "not UTF-8")
    }

    func testParsingAndErrorsThatNeverQuoteValues() throws {
        XCTAssertEqual(try FormURLEncoded.parse(Array("grant_type=client_credentials&scope=read+write&empty=&x".utf8)),
                       ["grant_type": "client_credentials", "scope": "read write"])
        XCTAssertThrowsError(try FormURLEncoded.parse(Array("a=1&a=2".utf8))) {
            XCTAssertEqual("\($0)", "parameter 'a' is given more than once")
        }
        XCTAssertThrowsError(try FormURLEncoded.parse(Array("client_secret=kgs_abcdef%".utf8))) {
            XCTAssertEqual("\($0)", "the value of 'client_secret' has bad percent-encoding")
        }
    }

    func testBasicCredentials() throws {
        let header = BasicCredentials.header(id: "a:b+c%d é", secret: "s:e+c%r")
        let parsed = try XCTUnwrap(try BasicCredentials.parse(header))
        XCTAssertEqual(parsed.id, "a:b+c%d é")
        XCTAssertEqual(parsed.secret, "s:e+c%r")
        // RFC 6749 2.3.1: the id is form-encoded, so its ':' cannot split it.
        XCTAssertTrue(header.hasPrefix("Basic "))
        let raw = String(data: Data(base64Encoded: String(header.dropFirst(6)))!, encoding: .utf8)!
        XCTAssertEqual(raw, "a%3Ab%2Bc%25d+%C3%A9:s%3Ae%2Bc%25r")
        XCTAssertNil(try BasicCredentials.parse("Bearer abc"))
        XCTAssertThrowsError(try BasicCredentials.parse("Basic !!!"))
        XCTAssertThrowsError(try BasicCredentials.parse("Basic " + Data("no-colon".utf8).base64EncodedString()))
    }

    func testRedaction() {
        XCTAssertEqual(Redact.echo("10.0.0.300"), "10.0.0.300")
        XCTAssertEqual(Redact.echo("x kg_abc"), "<redacted: looks like a secret>")
        XCTAssertEqual(Redact.echo("KGAT_abc"), "<redacted: looks like a secret>")
        XCTAssertEqual(Redact.path("/v1/accounts/acme/keys/kg_secret"), "/v1/accounts/acme/keys/<redacted>")
        XCTAssertEqual(Redact.echo(String(repeating: "a", count: 100), max: 10), "aaaaaaaaaa…")
    }
}
