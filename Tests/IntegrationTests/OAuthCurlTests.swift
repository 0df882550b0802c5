import Foundation
import XCTest
import KeygateAPI

/// The OAuth endpoints with plain curl, as an integrator would first try them.
final class OAuthCurlTests: XCTestCase {
    func testTokenWithCurlThenUseIntrospectRevoke() throws {
        let d = try DaemonUnderTest(yaml: "policies:\n  default:\n    token_ttl: 10m\n")
        try d.start()
        let gen = try d.json(try d.cli(["client", "generate", "acme", "--json"]).out)
        let id = try XCTUnwrap(gen["client_id"]?.stringValue), secret = try XCTUnwrap(gen["client_secret"]?.stringValue)

        let token = try runProgram("/usr/bin/curl", ["-s", "-i", "--unix-socket", d.serviceSocket, "-u", "\(id):\(secret)",
                                                     "-d", "grant_type=client_credentials", "http://keygate/oauth/token"])
        XCTAssertTrue(token.out.hasPrefix("HTTP/1.1 200 OK"), token.out)
        XCTAssertTrue(token.out.contains("Cache-Control: no-store") && token.out.contains("Pragma: no-cache"))
        let body = try d.json(String(token.out.components(separatedBy: "\r\n\r\n").last ?? ""))
        let access = try XCTUnwrap(body["access_token"]?.stringValue)
        XCTAssertEqual(body["expires_in"], 600)
        XCTAssertEqual(body["token_type"], "Bearer")

        let auth = try d.curl("GET", "/v1/auth", headers: ["Authorization: Bearer \(access)"])
        XCTAssertEqual(auth.code, 204)
        XCTAssertTrue(auth.headers.contains("Keygate-Account: acme") && auth.headers.contains("Keygate-Client-Id: \(id)"), auth.headers)

        let intro = try runProgram("/usr/bin/curl", ["-s", "--unix-socket", d.serviceSocket, "-d", "token=\(access)", "http://keygate/oauth/introspect"])
        let j = try d.json(intro.out)
        XCTAssertEqual(j["active"], true)
        XCTAssertEqual(j["sub"], "acme")
        XCTAssertEqual((j["exp"]?.intValue ?? 0) - (j["iat"]?.intValue ?? 0), 600)

        let revoke = try runProgram("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", d.serviceSocket,
                                                      "-u", "\(id):\(secret)", "-d", "token=\(access)", "http://keygate/oauth/revoke"])
        XCTAssertEqual(revoke.out, "200")
        XCTAssertEqual(try d.curl("GET", "/v1/auth", headers: ["Authorization: Bearer \(access)"]).code, 401)
        XCTAssertEqual(try d.json(try d.curl("POST", "/v1/verify", body: #"{"key":"\#(access)"}"#).body), ["valid": false, "code": "REVOKED"])

        // A changed token_ttl applies to the next token.
        try d.writeConfig("policies:\n  default:\n    token_ttl: 2m\n")
        XCTAssertEqual(try d.cli(["reload"]).status, 0)
        let next = try runProgram("/usr/bin/curl", ["-s", "--unix-socket", d.serviceSocket, "-u", "\(id):\(secret)",
                                                    "-d", "grant_type=client_credentials", "http://keygate/oauth/token"])
        XCTAssertEqual(try d.json(next.out)["expires_in"], 120)
        XCTAssertEqual(d.stop(), 0)
        let written = d.allWrittenBytes()
        for s in [secret, access] { XCTAssertNil(written.range(of: Data(s.utf8))) }
    }
}
