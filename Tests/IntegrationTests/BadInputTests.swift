import Foundation
import XCTest
import KeygateAPI

/// Bad input of any size or shape gets a clear 4xx, changes nothing, and the
/// daemon keeps serving.
final class BadInputTests: XCTestCase {
    var d: DaemonUnderTest!

    override func setUpWithError() throws {
        d = try DaemonUnderTest()
        try d.start()
    }

    override func tearDown() { d.stop(); d = nil }

    func error(_ r: (code: Int, body: String, headers: String)) throws -> (String?, String?) {
        let j = try d.json(r.body)
        return (j["error"]?.stringValue, j["error_description"]?.stringValue)
    }

    func testVerifyRejectsMalformedRequests() throws {
        for body in ["not json", "{", "[]", #"{"key":5}"#, #"{"ip":"1.2.3.4"}"#, #"{"key":"kg_x","extra":1}"#, #"{"key":"kg_x"} trailing"#] {
            let r = try d.curl("POST", "/v1/verify", body: body)
            XCTAssertEqual(r.code, 400, body)
            XCTAssertEqual(try error(r).0, "invalid_request", body)
        }
        let badIP = try d.curl("POST", "/v1/verify", body: #"{"key":"kg_x","ip":"300.1.1.1"}"#)
        XCTAssertEqual(badIP.code, 400)
        XCTAssertEqual(try error(badIP).1, "verify: 'ip' is not an IPv4 or IPv6 address: '300.1.1.1'")
        // Escaped strings are decoded before the check.
        let escaped = try d.curl("POST", "/v1/verify", body: #"{"key":"kg\u005fabc","ip":"10.0.0.1"}"#)
        XCTAssertEqual(try d.json(escaped.body), ["valid": false, "code": "MALFORMED"])
    }

    func testOversizedBodyAndHeadersAreRefused() throws {
        let big = String(repeating: "a", count: 100_000)
        let r = try d.curl("POST", "/v1/verify", body: #"{"key":"\#(big)"}"#)
        XCTAssertEqual(r.code, 413)
        XCTAssertEqual(try error(r).0, "request_too_large")

        let s = try RawSocket(path: d.serviceSocket)
        s.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: \(String(repeating: "j", count: 20_000))\r\n\r\n")
        let resp = s.readResponses(1)
        XCTAssertEqual(resp.first?.status, 431)
        XCTAssertTrue(s.isClosedByPeer())

        // A body sent in chunks that grows past the limit is cut off too.
        let c = try RawSocket(path: d.serviceSocket)
        c.send("POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = String(repeating: "x", count: 32_000)
        for _ in 0..<3 { c.send(String(32_000, radix: 16) + "\r\n" + chunk + "\r\n") }
        XCTAssertEqual(c.readResponses(1).first?.status, 413)

        // The daemon is still serving.
        XCTAssertEqual(try d.curl("GET", "/healthz").code, 200)
    }

    /// A secret sent in the wrong place is never echoed back in an error.
    func testErrorsNeverEchoASecret() throws {
        let created = try d.json(try d.cli(["key", "create", "acme", "--name", "leaky", "--json"]).out)
        let secret = try XCTUnwrap(created["key"]?.stringValue)
        let answers = [
            try d.curl("POST", "/v1/verify", body: #"{"key":"203.0.113.7","ip":"\#(secret)"}"#),
            try d.curl("POST", "/v1/verify", body: #"{"key":"x","\#(secret)":1}"#),
            try d.curl("DELETE", "/v1/accounts/acme/keys/\(secret)", socket: d.adminSocket),
            try d.curl("PATCH", "/v1/accounts/\(secret)/keys/key_0000000000000000", body: "{}", socket: d.adminSocket),
            try d.curl("GET", "/v1/nothing/\(secret)", socket: d.adminSocket),
            try d.curl("GET", "/\(secret)"),
            try d.curl("GET", "/v1/auth", headers: ["X-API-Key: kg_whatever", "X-Real-IP: \(secret)"]),
            try d.curl("POST", "/oauth/token", body: "grant_type=client_credentials&client_id=kgc_x&client_secret=\(secret)%",
                       headers: ["Content-Type: application/x-www-form-urlencoded"]),
            try d.curl("POST", "/oauth/token", body: "grant_type=\(secret)", headers: ["Content-Type: application/x-www-form-urlencoded", "Authorization: Basic !!\(secret)"]),
        ]
        for a in answers {
            XCTAssertGreaterThanOrEqual(a.code, 400, a.body)
            XCTAssertFalse(a.body.contains(String(secret.dropFirst(3).prefix(12))), "secret echoed: \(a.body)")
        }
        // A secret pasted as an account or a key name is refused and stored nowhere; ordinary names that
        // merely contain "kg_" are fine.
        let asAccount = try d.cli(["key", "create", secret, "--name", "x"])
        XCTAssertEqual(asAccount.status, 1)
        XCTAssertFalse(asAccount.err.contains(String(secret.dropFirst(3).prefix(12))), asAccount.err)
        let asName = try d.cli(["key", "create", "acme", "--name", "copy of \(secret)"])
        XCTAssertEqual(asName.status, 1)
        XCTAssertTrue(asName.err.contains("looks like a Keygate secret"), asName.err)
        XCTAssertEqual(try d.cli(["key", "create", "pkg_ci", "--name", "pkg_sync"]).status, 0)
        XCTAssertEqual(try d.json(try d.cli(["accounts", "--json"]).out)["accounts"]?.arrayValue?.compactMap { $0["account"]?.stringValue }, ["acme", "pkg_ci"])
        let cli = try d.cli(["key", "delete", "acme", secret])
        XCTAssertEqual(cli.status, 2)
        XCTAssertFalse(cli.err.contains(String(secret.dropFirst(3).prefix(12))), cli.err)
        XCTAssertFalse(d.log.contains(String(secret.dropFirst(3).prefix(12))))
    }

    func testOversizedInputDoesNotGrowMemory() throws {
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(d.process!.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let chunk = String(repeating: "x", count: 60_000)
        func flood(_ n: Int) {
            for i in 0..<n {
                guard let s = try? RawSocket(path: d.serviceSocket) else { continue }
                if i % 2 == 0 {
                    // A declared 1 GB body: refused from the head, nothing read.
                    s.send("POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n" + chunk)
                } else {
                    s.send("POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                    for _ in 0..<4 { s.send(String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n") }
                }
                XCTAssertEqual(s.readResponses(1).first?.status, 413)
            }
        }
        flood(50)
        let warm = rss()
        flood(300)
        let after = rss()
        XCTAssertLessThan(after - warm, 8192, "RSS \(warm) kB -> \(after) kB after 300 oversized requests")
        XCTAssertEqual(try d.curl("GET", "/healthz").code, 200)
    }

    /// Garbage of any shape on both sockets: every connection gets an answer or
    /// is closed, and the daemon keeps serving.
    func testGarbageOnTheSocketsNeverTakesTheDaemonDown() throws {
        var state: UInt64 = 7
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let starts = ["GET / HTTP/1.1\r\n", "POST /v1/verify HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "\r\n\r\n", "", "GET /healthz HTTP/9.9\r\n\r\n",
                      "POST /oauth/token HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
        for i in 0..<300 {
            let s = try RawSocket(path: i % 3 == 0 ? d.adminSocket : d.serviceSocket)
            var bytes = Array(starts[next(starts.count)].utf8)
            for _ in 0..<next(600) { bytes.append(UInt8(next(256))) }
            s.send(bytes)
            shutdown(s.fd, Int32(SHUT_WR))
            _ = s.isClosedByPeer()
        }
        XCTAssertEqual(try d.curl("GET", "/healthz").code, 200)
        XCTAssertTrue(d.process!.isRunning)
        XCTAssertEqual(try d.cli(["status"]).status, 0)
    }

    func testKeepAliveAndPipelining() throws {
        let s = try RawSocket(path: d.serviceSocket)
        let verify = #"{"key":"kg_nope"}"#
        var batch = ""
        for _ in 0..<3 {
            batch += "POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(verify.utf8.count)\r\n\r\n\(verify)"
            batch += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        }
        s.send(batch)
        let replies = s.readResponses(6)
        XCTAssertEqual(replies.map(\.status), [200, 200, 200, 200, 200, 200])
        XCTAssertEqual(replies.map(\.body), Array(repeating: [#"{"valid":false,"code":"MALFORMED"}"#, #"{"status":"ok"}"#], count: 3).flatMap { $0 })
        // Same connection, later request: still open.
        s.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(s.readResponses(1).first?.status, 200)
        // An admin request on a kept-alive connection is answered in order too.
        let a = try RawSocket(path: d.adminSocket)
        let body = #"{"name":"pipelined"}"#
        a.send("POST /v1/accounts/acme/keys HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)GET /v1/accounts/acme/keys HTTP/1.1\r\nHost: x\r\n\r\n")
        let two = a.readResponses(2)
        XCTAssertEqual(two.map(\.status), [201, 200])
        XCTAssertTrue(two.last?.body.contains("pipelined") ?? false)
    }

    func testUnknownRoutesAndMethods() throws {
        XCTAssertEqual(try d.curl("GET", "/nope").code, 404)
        let m = try d.curl("GET", "/v1/verify")
        XCTAssertEqual(m.code, 405)
        XCTAssertTrue(m.headers.contains("Allow: POST") || m.headers.contains("allow: POST"), m.headers)
        XCTAssertEqual(try d.curl("PUT", "/v1/accounts/acme/keys", socket: d.adminSocket).code, 405)
        XCTAssertEqual(try d.curl("GET", "/v1/nothing", socket: d.adminSocket).code, 404)
    }

    func testAdminRejectsBadInputAndStoresNothing() throws {
        let cases: [(String, String, String)] = [
            ("/v1/accounts/acme/keys", #"{"name":""}"#, "create key: 'name' must not be empty"),
            ("/v1/accounts/acme/keys", #"{"name":"   "}"#, "create key: 'name' must not be empty"),
            ("/v1/accounts/acme/keys", #"{"name":"\#(String(repeating: "n", count: 101))"}"#, "create key: 'name' is 101 characters; at most 100"),
            ("/v1/accounts/acme/keys", #"{}"#, "create key: 'name' is required"),
            ("/v1/accounts/acme/keys", #"{"name":"x","allow_ips":["10.0.0.0/33"]}"#, "create key: allow_ips: '10.0.0.0/33' has a prefix length outside 0-32"),
            ("/v1/accounts/acme/keys", #"{"name":"x","allow_ips":"10.0.0.1"}"#, "create key: 'allow_ips' must be an array of addresses, got a string"),
            ("/v1/accounts/acme/keys", #"{"name":"x","expires_in":"soon"}"#, "create key: 'expires_in' must be a duration such as 90d, 12h, 30m or seconds, got 'soon'"),
            ("/v1/accounts/acme/keys", #"{"name":"x","expires_in":"5s"}"#, "create key: 'expires_in' of 5s is out of range; expected 1m to 3650d"),
            ("/v1/accounts/acme/keys", #"{"name":"x","colour":"red"}"#, "create key: unknown field 'colour'; expected name, allow_ips, expires_in"),
            ("/v1/accounts/acme/keys", "nope", "the body is not valid JSON: expected a JSON value at byte 0"),
            // Path segments are percent-decoded before they are checked (SPEC 6).
            ("/v1/accounts/bad%20name/keys", #"{"name":"x"}"#, "'bad name' is not an account name: 1-64 characters from A-Z a-z 0-9 . _ @ -"),
        ]
        for (path, body, message) in cases {
            let r = try d.curl("POST", path, body: body, socket: d.adminSocket)
            XCTAssertEqual(r.code, 400, body)
            XCTAssertEqual(try error(r).1, message, body)
        }
        let cli = try d.cli(["key", "create", "acme", "--name", "x", "--allow-ip", "not-an-ip"])
        XCTAssertEqual(cli.status, 1)
        XCTAssertTrue(cli.err.contains("'not-an-ip' is not an IPv4 or IPv6 address"), cli.err)
        XCTAssertEqual(try d.cli(["key", "create", "bad/account", "--name", "x"]).status, 2, "usage error")
        let listed = try d.json(try d.cli(["key", "list", "acme", "--json"]).out)
        XCTAssertEqual(listed["keys"], [], "nothing was stored")
        XCTAssertEqual(try d.json(try d.cli(["status", "--json"]).out)["counts"]?["keys"], 0)
    }
}
