import Foundation
import XCTest
import KeygateAPI

/// Reload builds the new configuration beside the running one and swaps it in
/// whole: valid files apply to the next request, invalid ones change nothing.
final class ReloadTests: XCTestCase {
    func verify(_ d: DaemonUnderTest, _ key: String, ip: String) throws -> JSON {
        try d.json(try d.curl("POST", "/v1/verify", body: #"{"key":"\#(key)","ip":"\#(ip)"}"#).body)
    }

    func testValidReloadAppliesToTheNextRequestInvalidChangesNothing() throws {
        let d = try DaemonUnderTest(yaml: "policies:\n  default:\n    max_keys: 3\n")
        try d.start()
        var secrets: [String] = []
        for i in 0..<3 {
            let r = try d.cli(["key", "create", "acme", "--name", "k\(i)", "--json"])
            secrets.append(try XCTUnwrap(try d.json(r.out)["key"]?.stringValue))
        }
        let before = try d.json(try d.cli(["status", "--json"]).out)["config"]

        // Lower max_keys and restrict addresses: existing keys stay, new ones are blocked, the restriction applies.
        try d.writeConfig("policies:\n  default:\n    max_keys: 2\n    allow_ips: [10.0.0.0/8]\n")
        let reload = try d.cli(["reload"])
        XCTAssertEqual(reload.status, 0, reload.err)
        XCTAssertTrue(reload.out.contains("Configuration reloaded"))
        XCTAssertEqual(try d.json(try d.cli(["key", "list", "acme", "--json"]).out)["keys"]?.arrayValue?.count, 3)
        let blocked = try d.cli(["key", "create", "acme", "--name", "k3"])
        XCTAssertEqual(blocked.status, 1)
        XCTAssertTrue(blocked.err.contains("allows at most 2"), blocked.err)
        XCTAssertEqual(try verify(d, secrets[0], ip: "192.0.2.1"), ["valid": false, "code": "IP_NOT_ALLOWED"])
        XCTAssertEqual(try verify(d, secrets[0], ip: "10.0.0.1")["valid"], true)
        let after = try d.json(try d.cli(["status", "--json"]).out)["config"]
        XCTAssertNotEqual(before?["sha256"], after?["sha256"], "status shows which file is live")

        // An invalid file: errors printed with positions, exit 1, nothing changes.
        try d.writeConfig("policies:\n  default:\n    max_keys: 0\n    allow_ips: [10.0.0.0/33]\n")
        let bad = try d.cli(["reload"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.err.contains("\(d.configPath):8:15: policies.default.max_keys: 0 is out of range"), bad.err)
        XCTAssertTrue(bad.err.contains("\(d.configPath):9:17: policies.default.allow_ips: '10.0.0.0/33'"), bad.err)
        XCTAssertEqual(try verify(d, secrets[0], ip: "192.0.2.1")["code"], "IP_NOT_ALLOWED", "the running configuration stays")
        XCTAssertEqual(try d.json(try d.cli(["status", "--json"]).out)["config"]?["sha256"], after?["sha256"])
        let api = try d.curl("POST", "/v1/reload", socket: d.adminSocket)
        XCTAssertEqual(api.code, 422)
        XCTAssertEqual(try d.json(api.body)["errors"]?.arrayValue?.count, 2)
        XCTAssertTrue(d.log.contains("reload refused"), "errors are logged")

        // SIGHUP reloads too.
        try d.writeConfig("policies:\n  default:\n    max_keys: 5\n")
        kill(d.process!.processIdentifier, SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        var verdict: JSON = .null
        repeat {
            verdict = try verify(d, secrets[0], ip: "192.0.2.1")
            if verdict["valid"] == true { break }
            usleep(50_000)
        } while Date() < deadline
        XCTAssertEqual(verdict["valid"], true, "SIGHUP applied the file")

        // listen and storage changes wait for a restart, and say so.
        var text = try String(contentsOfFile: d.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "state/keygate.db", with: "state/other.db")
        try text.write(toFile: d.configPath, atomically: true, encoding: .utf8)
        let later = try d.cli(["reload"])
        XCTAssertEqual(later.status, 0)
        XCTAssertTrue(later.out.contains("Takes effect at the next restart: storage.path"), later.out)
        XCTAssertEqual(try verify(d, secrets[0], ip: "192.0.2.1")["valid"], true, "still on the same database")
        XCTAssertEqual(d.stop(), 0)
    }

    /// Many keep-alive connections verify while the file is reloaded in a loop,
    /// alternating valid and invalid versions. Every answer must come from one
    /// whole configuration, and memory must not grow with the reloads.
    func testReloadUnderLoadDropsNothingAndMixesNothing() throws {
        // Two configurations that disagree on everything a verdict shows.
        let alpha = """
            verify:
              failures_per_ip: 1000000
            policies:
              default: {}
              alpha:
                allow_ips: [10.0.0.0/8]
              beta:
                allow_ips: [192.168.0.0/16]
            accounts:
              - match: "acme"
                policy: alpha

            """
        let beta = alpha.replacingOccurrences(of: "policy: alpha", with: "policy: beta")
        let broken = alpha + "bogus: true\n"
        let d = try DaemonUnderTest(yaml: alpha)
        try d.start()
        let secret = try XCTUnwrap(try d.json(try d.cli(["key", "create", "acme", "--name", "load", "--json"]).out)["key"]?.stringValue)

        /// What the workers report, behind one lock.
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var running = true
            var failures: [String] = []
            var counts = [String: Int]()
            func fail(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
            func count(_ k: String) { lock.lock(); counts[k, default: 0] += 1; lock.unlock() }
            var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }
            func stop() { lock.lock(); running = false; lock.unlock() }
        }
        let tally = Tally()
        let group = DispatchGroup()
        for worker in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let s = try? RawSocket(path: d.serviceSocket) else { tally.fail("worker \(worker): cannot connect"); return }
                var n = 0
                while tally.isRunning {
                    let ip = n % 2 == 0 ? "10.1.2.3" : "192.168.1.1"
                    n += 1
                    let body = #"{"key":"\#(secret)","ip":"\#(ip)"}"#
                    s.send("POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    guard let r = s.readResponses(1).first, r.status == 200 else {
                        tally.fail("worker \(worker): request \(n) failed or connection dropped"); return
                    }
                    // Consistent outcomes only: alpha admits 10/8 under policy alpha, beta admits 192.168/16 under beta.
                    let valid = r.body.hasPrefix(#"{"valid":true,"kind":"api_key","account":"acme""#)
                    if valid && ip == "10.1.2.3" && r.body.contains(#""policy":"alpha""#) {
                        tally.count("alpha")
                    } else if valid && ip == "192.168.1.1" && r.body.contains(#""policy":"beta""#) {
                        tally.count("beta")
                    } else if r.body == #"{"valid":false,"code":"IP_NOT_ALLOWED"}"# {
                        tally.count("refused")
                    } else {
                        tally.fail("worker \(worker): inconsistent answer for \(ip): \(r.body)"); return
                    }
                }
            }
        }
        func rss() -> Int {
            let status = (try? String(contentsOfFile: "/proc/\(d.process!.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        var rssAfterWarmup = 0
        let reloads = 300
        for i in 0..<reloads {
            let text = i % 3 == 2 ? broken : (i % 3 == 0 ? beta : alpha)
            try d.writeConfig(text)
            let r = try UnixHTTPClient(path: d.adminSocket).request("POST", "/v1/reload")
            XCTAssertEqual(r.status, i % 3 == 2 ? 422 : 200)
            if i == 100 { rssAfterWarmup = rss() }
        }
        let rssAtEnd = rss()
        tally.stop()
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(tally.failures, [])
        XCTAssertGreaterThan(tally.counts["alpha", default: 0], 0)
        XCTAssertGreaterThan(tally.counts["beta", default: 0], 0)
        XCTAssertGreaterThan(tally.counts["refused", default: 0], 0)
        // 200 more reloads after the warm-up: resident memory grows by less than 4 MiB.
        XCTAssertLessThan(rssAtEnd - rssAfterWarmup, 4096, "RSS \(rssAfterWarmup) kB -> \(rssAtEnd) kB")
        XCTAssertEqual(d.stop(), 0)
    }
}
