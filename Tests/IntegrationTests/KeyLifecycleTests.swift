import Foundation
import XCTest
import KeygateAPI

/// The walking skeleton as a sysadmin meets it: the real keygated, the real
/// keygate tool and curl on temporary Unix sockets.
final class KeyLifecycleTests: XCTestCase {
    func verify(_ d: DaemonUnderTest, _ key: String, ip: String? = nil) throws -> JSON {
        var body: JSONObject = ["key": .string(key)]
        if let ip { body["ip"] = .string(ip) }
        let r = try d.curl("POST", "/v1/verify", body: JSON.object(body).text)
        XCTAssertEqual(r.code, 200, r.body)
        return try d.json(r.body)
    }

    func createKey(_ d: DaemonUnderTest, _ account: String, _ name: String, _ extra: [String] = []) throws -> JSON {
        let r = try d.cli(["key", "create", account, "--name", name, "--json"] + extra)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("will not show it again"), "the secret comes with a warning")
        return try d.json(r.out)
    }

    func testCreateVerifyListLimitRestrictDeleteRestart() throws {
        let d = try DaemonUnderTest()
        try d.start()
        var secrets: [String] = []

        // Create and verify.
        let first = try createKey(d, "acme", "CRM sync")
        let secret = try XCTUnwrap(first["key"]?.stringValue)
        let id = try XCTUnwrap(first["id"]?.stringValue)
        secrets.append(secret)
        XCTAssertEqual(first["hint"]?.stringValue, String(secret.prefix(8)))
        let ok = try verify(d, secret, ip: "203.0.113.7")
        XCTAssertEqual(ok, ["valid": true, "kind": "api_key", "account": "acme", "key_id": .string(id), "name": "CRM sync", "policy": "default"])

        // Human output of create shows the secret once, with the warning.
        let human = try d.cli(["key", "create", "acme", "--name", "second"])
        XCTAssertEqual(human.status, 0)
        let humanSecret = try XCTUnwrap(human.out.split(separator: " ").map(String.init).first { $0.hasPrefix("kg_") }?.trimmingCharacters(in: .whitespacesAndNewlines))
        secrets.append(humanSecret)
        XCTAssertEqual(try verify(d, humanSecret)["valid"], true)

        // List: hints only, never a secret.
        let list = try d.cli(["key", "list", "acme"])
        XCTAssertEqual(list.status, 0)
        XCTAssertTrue(list.out.contains("CRM sync") && list.out.contains(id) && list.out.contains(String(secret.prefix(8))))
        let listJSON = try d.cli(["key", "list", "acme", "--json"])
        for s in secrets {
            XCTAssertFalse(list.out.contains(s) || listJSON.out.contains(s), "a listing shows a secret")
            XCTAssertFalse(listJSON.out.contains(String(s.prefix(9))), "a listing shows more than 8 characters")
        }
        XCTAssertEqual(try d.json(listJSON.out)["keys"]?.arrayValue?.count, 2)

        // Up to five; the sixth is refused with the limit and the policy, and nothing is written.
        for i in 3...5 { secrets.append(try XCTUnwrap(try createKey(d, "acme", "key \(i)")["key"]?.stringValue)) }
        let sixth = try d.cli(["key", "create", "acme", "--name", "key 6"])
        XCTAssertEqual(sixth.status, 1)
        XCTAssertTrue(sixth.err.contains("at most 5") && sixth.err.contains("'default'"), sixth.err)
        let api = try d.curl("POST", "/v1/accounts/acme/keys", body: #"{"name":"key 6"}"#, socket: d.adminSocket)
        XCTAssertEqual(api.code, 409)
        XCTAssertEqual(try d.json(api.body)["error"], "key_limit_reached")
        XCTAssertEqual(try d.json(api.body)["limit"], 5)
        XCTAssertEqual(try d.json(api.body)["policy"], "default")
        XCTAssertEqual(try d.json(try d.cli(["key", "list", "acme", "--json"]).out)["keys"]?.arrayValue?.count, 5)

        // A restricted key: allowed and refused addresses, IPv6 and mapped IPv4 too.
        let restricted = try createKey(d, "globex", "office only", ["--allow-ip", "10.1.0.0/16", "--allow-ip", "2001:db8::/32"])
        let rsecret = try XCTUnwrap(restricted["key"]?.stringValue)
        secrets.append(rsecret)
        XCTAssertEqual(try verify(d, rsecret, ip: "10.1.200.3")["valid"], true)
        XCTAssertEqual(try verify(d, rsecret, ip: "::ffff:10.1.0.9")["valid"], true)
        XCTAssertEqual(try verify(d, rsecret, ip: "2001:db8:1::1")["valid"], true)
        XCTAssertEqual(try verify(d, rsecret, ip: "10.2.0.1"), ["valid": false, "code": "IP_NOT_ALLOWED"])
        XCTAssertEqual(try verify(d, rsecret), ["valid": false, "code": "IP_NOT_ALLOWED"])
        let cliVerify = try d.cli(["verify", rsecret, "--ip", "192.0.2.1"])
        XCTAssertEqual(cliVerify.status, 1)
        XCTAssertEqual(cliVerify.out, "invalid: IP_NOT_ALLOWED\n")
        XCTAssertEqual(try d.cli(["verify", "-", "--ip", "10.1.0.1"], stdin: rsecret + "\n").status, 0)

        // A mistyped key is MALFORMED; an unknown well-formed one UNKNOWN.
        XCTAssertEqual(try verify(d, String(secret.dropLast()) + (secret.last == "A" ? "B" : "A")), ["valid": false, "code": "MALFORMED"])

        // Delete: 204, then 404, and the key is UNKNOWN from the answer on.
        let del = try d.cli(["key", "delete", "acme", id])
        XCTAssertEqual(del.status, 0, del.err)
        XCTAssertEqual(try verify(d, secret), ["valid": false, "code": "UNKNOWN"])
        let again = try d.curl("DELETE", "/v1/accounts/acme/keys/\(id)", socket: d.adminSocket)
        XCTAssertEqual(again.code, 404)
        XCTAssertEqual(try d.cli(["key", "delete", "acme", id]).status, 1)

        // SIGTERM: exit 0. Start again: the surviving keys are still valid, the deleted one not.
        XCTAssertEqual(d.stop(SIGTERM), 0, d.log)
        try d.start()
        for s in secrets.dropFirst() { XCTAssertEqual(try verify(d, s, ip: "10.1.0.1")["valid"], true, "key lost across restart") }
        XCTAssertEqual(try verify(d, secret), ["valid": false, "code": "UNKNOWN"])
        XCTAssertEqual(d.stop(SIGINT), 0)

        // No secret anywhere on disk or in the log.
        let written = d.allWrittenBytes()
        XCTAssertGreaterThan(written.count, 0)
        for s in secrets {
            XCTAssertNil(written.range(of: Data(s.utf8)), "secret found in the database or log")
            XCTAssertNil(written.range(of: Data(s.utf8.dropFirst(8))), "secret body found in the database or log")
        }
    }

    func testUpdateKeyAndLastUse() throws {
        let d = try DaemonUnderTest()
        try d.start()
        let k = try createKey(d, "acme", "old name")
        let id = try XCTUnwrap(k["id"]?.stringValue), secret = try XCTUnwrap(k["key"]?.stringValue)
        XCTAssertEqual(try d.cli(["key", "update", "acme", id, "--name", "new name", "--allow-ip", "192.0.2.0/24"]).status, 0)
        XCTAssertEqual(try verify(d, secret, ip: "198.51.100.1"), ["valid": false, "code": "IP_NOT_ALLOWED"], "a changed restriction applies to the next request")
        XCTAssertEqual(try verify(d, secret, ip: "192.0.2.9")["name"], "new name")
        let listed = try d.json(try d.cli(["key", "list", "acme", "--json"]).out)["keys"]?.arrayValue?.first
        XCTAssertEqual(listed?["last_used_ip"], "192.0.2.9")
        XCTAssertNotEqual(listed?["last_used_at"], .null)
        XCTAssertEqual(listed?["allow_ips"], ["192.0.2.0/24"])
        XCTAssertEqual(try d.cli(["key", "update", "acme", id, "--unrestricted"]).status, 0)
        XCTAssertEqual(try verify(d, secret, ip: "198.51.100.1")["valid"], true)
        // Renaming onto another key's name is refused.
        _ = try createKey(d, "acme", "taken")
        let clash = try d.cli(["key", "update", "acme", id, "--name", "taken"])
        XCTAssertEqual(clash.status, 1)
        XCTAssertTrue(clash.err.contains("already has a key named 'taken'"), clash.err)
        // Last use survives a restart: it is written in batches, and at shutdown.
        XCTAssertEqual(d.stop(), 0)
        try d.start()
        let afterList = try d.json(try d.cli(["key", "list", "acme", "--json"]).out)["keys"]?.arrayValue ?? []
        XCTAssertEqual(afterList.map { $0["name"] }, ["new name", "taken"], "creation order survives a restart")
        XCTAssertEqual(afterList.first?["last_used_ip"], "198.51.100.1")
        d.stop()
    }

    func testStatusAndAccounts() throws {
        let d = try DaemonUnderTest()
        try d.start()
        _ = try createKey(d, "acme", "one")
        let st = try d.json(try d.cli(["status", "--json"]).out)
        XCTAssertEqual(st["config"]?["path"]?.stringValue, d.configPath)
        XCTAssertEqual(st["config"]?["sha256"]?.stringValue?.count, 64)
        XCTAssertEqual(st["counts"]?["keys"], 1)
        let human = try d.cli(["status"])
        XCTAssertTrue(human.out.contains(d.configPath) && human.out.contains("api keys       1"), human.out)
        let accounts = try d.json(try d.cli(["accounts", "--json"]).out)
        XCTAssertEqual(accounts["accounts"]?.arrayValue?.first?["account"], "acme")
        XCTAssertEqual(accounts["accounts"]?.arrayValue?.first?["keys"], 1)
        d.stop()
    }
}
