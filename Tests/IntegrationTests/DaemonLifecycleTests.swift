import Foundation
import XCTest
import KeygateAPI

final class DaemonLifecycleTests: XCTestCase {
    func testInvalidConfigurationExits78WithPositions() throws {
        let d = try DaemonUnderTest(yaml: "policies:\n  default:\n    max_key: 5\n    allow_ips: [10.0.0.1/8]\n")
        let check = try runProgram(Binaries.keygated, ["--check-config", "--config", d.configPath])
        XCTAssertEqual(check.status, 78)
        XCTAssertEqual(check.err, """
            \(d.configPath):8:5: unknown key 'max_key' in policies.default; did you mean 'max_keys'?
            \(d.configPath):9:17: policies.default.allow_ips: '10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?

            """)
        try d.start(waitUntilReady: false)
        XCTAssertEqual(d.stop(SIGCONT), 78, "starting on a broken file exits 78")
        XCTAssertTrue(d.log.contains(":8:5: unknown key 'max_key'"), d.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.serviceSocket), "never starts half-configured")
        let tool = try runProgram(Binaries.keygate, ["config", "check", d.configPath])
        XCTAssertEqual(tool.status, 1)
        XCTAssertTrue(tool.err.contains(":9:17: policies.default.allow_ips"))
        let json = try runProgram(Binaries.keygate, ["config", "check", d.configPath, "--json"])
        XCTAssertEqual(json.status, 1)
        let j = try JSON.parse(Array(json.out.utf8))
        XCTAssertEqual(j["valid"], false)
        XCTAssertEqual(j["errors"]?.arrayValue?.count, 2)
        try d.writeConfig("")
        XCTAssertEqual(try runProgram(Binaries.keygated, ["--check-config", "--config", d.configPath]).status, 0)
        XCTAssertEqual(try runProgram(Binaries.keygate, ["config", "check", d.configPath]).status, 0)
        XCTAssertEqual(try runProgram(Binaries.keygated, ["--check-config"], env: ["KEYGATE_CONFIG": d.configPath]).status, 0)
    }

    func testSecondDaemonIsRefusedAndStaleSocketRemoved() throws {
        let d = try DaemonUnderTest()
        try d.start()
        let second = try runProgram(Binaries.keygated, ["--config", d.configPath], timeout: 20)
        XCTAssertEqual(second.status, 1)
        XCTAssertTrue(second.err.contains("another keygated is already answering on \(d.serviceSocket)"), second.err)
        XCTAssertFalse(second.err.contains("state loaded"), "refused before it opened the database")
        XCTAssertEqual(try d.curl("GET", "/healthz").code, 200, "the first daemon still serves")
        // kill -9 leaves socket files behind; the next start removes them.
        XCTAssertEqual(d.stop(SIGKILL), 9)
        XCTAssertTrue(FileManager.default.fileExists(atPath: d.serviceSocket))
        try d.start()
        XCTAssertEqual(try d.curl("GET", "/healthz").code, 200)
        XCTAssertEqual(d.stop(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d.serviceSocket), "a clean stop removes its sockets")
    }

    /// SPEC 8: an acknowledged mutation survives kill -9.
    func testAcknowledgedMutationsSurviveKill9() throws {
        let d = try DaemonUnderTest()
        try d.start()
        var secrets: [String] = []
        for i in 0..<3 {
            let r = try d.cli(["key", "create", "acme", "--name", "k\(i)", "--json"])
            secrets.append(try XCTUnwrap(try d.json(r.out)["key"]?.stringValue))
        }
        let gone = try d.json(try d.cli(["key", "list", "acme", "--json"]).out)["keys"]?.arrayValue?.first?["id"]?.stringValue
        XCTAssertEqual(try d.cli(["key", "delete", "acme", try XCTUnwrap(gone)]).status, 0)
        let client = try d.json(try d.cli(["client", "generate", "acme", "--json"]).out)
        let id = try XCTUnwrap(client["client_id"]?.stringValue), secret = try XCTUnwrap(client["client_secret"]?.stringValue)
        let token = try runProgram("/usr/bin/curl", ["-s", "--unix-socket", d.serviceSocket, "-u", "\(id):\(secret)",
                                                     "-d", "grant_type=client_credentials", "http://keygate/oauth/token"])
        let access = try XCTUnwrap(try d.json(token.out)["access_token"]?.stringValue)
        XCTAssertEqual(d.stop(SIGKILL), 9)
        try d.start()
        func valid(_ s: String) throws -> JSON? { try d.json(try d.curl("POST", "/v1/verify", body: #"{"key":"\#(s)"}"#).body)["valid"] }
        XCTAssertEqual(try valid(secrets[0]), false, "the delete was acknowledged")
        XCTAssertEqual(try valid(secrets[1]), true)
        XCTAssertEqual(try valid(secrets[2]), true)
        XCTAssertEqual(try valid(access), true, "the token was acknowledged")
        XCTAssertEqual(d.stop(), 0)
    }

    func testSocketModes() throws {
        let d = try DaemonUnderTest(yaml: "")
        try d.writeConfig("")
        var text = try String(contentsOfFile: d.configPath, encoding: .utf8)
        // A group that exists on every Debian system, other than the daemon's own.
        text = text.replacingOccurrences(of: "listen:\n", with: "listen:\n  group: daemon\n  service_mode: \"0666\"\n  admin_mode: \"0600\"\n")
        try text.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        try d.start()
        let s = try FileManager.default.attributesOfItem(atPath: d.serviceSocket)[.posixPermissions] as? Int
        let a = try FileManager.default.attributesOfItem(atPath: d.adminSocket)[.posixPermissions] as? Int
        XCTAssertEqual(s, 0o666)
        XCTAssertEqual(a, 0o600)
        let group = try FileManager.default.attributesOfItem(atPath: d.serviceSocket)[.groupOwnerAccountName] as? String
        XCTAssertEqual(group, "daemon")
        // The state database is private even without systemd's UMask=.
        for f in [d.dbPath, d.dbPath + "-wal"] {
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: f)[.posixPermissions] as? Int, 0o600, f)
        }
        d.stop()
    }

    func testControlToolExplainsAnUnreachableDaemon() throws {
        let r = try runProgram(Binaries.keygate, ["status", "--admin-socket", "/tmp/definitely-not-here.sock"])
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.contains("cannot reach keygated at /tmp/definitely-not-here.sock"))
        XCTAssertTrue(r.err.contains("is keygated running?"))
        let v = try runProgram(Binaries.keygate, ["verify", "kg_x"], env: ["KEYGATE_SOCKET": "/tmp/definitely-not-here.sock"])
        XCTAssertEqual(v.status, 3)
        XCTAssertEqual(try runProgram(Binaries.keygate, ["key", "frobnicate"]).status, 2)
    }
}
