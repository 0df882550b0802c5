import Foundation
import XCTest
import KeygateCore
@testable import KeygateConfig

/// Names the tests resolve without touching the machine's passwd and group files.
let testResolver = NameResolver(
    uid: { ["root": 0, "webapp": 1000][$0] },
    gid: { ["keygate": 990, "keygate-admin": 991][$0] },
    members: { [991: [1000, 1001]][$0] ?? [] })

final class ConfigFixtureTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Every broken fixture `NAME.yaml` has `NAME.expected`: the exact lines the
    /// loader prints, with the fixture's path written as FILE.
    func testEveryBrokenFixtureGivesItsExactMessages() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: fixtures.path)
            .filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
        XCTAssertGreaterThan(names.count, 20)
        var checked = 0
        for name in names where !name.hasPrefix("valid") && name != "empty" {
            let path = fixtures.appendingPathComponent("\(name).yaml").path
            let expectedURL = fixtures.appendingPathComponent("\(name).expected")
            guard case .failure(let errors) = ConfigLoader.load(path: path, resolver: testResolver) else {
                XCTFail("\(name): loaded without errors")
                continue
            }
            let got = errors.description.replacingOccurrences(of: path, with: "FILE")
            if ProcessInfo.processInfo.environment["KEYGATE_UPDATE_GOLDEN"] == "1" {
                try (got + "\n").write(to: expectedURL, atomically: true, encoding: .utf8)
            }
            let expected = try String(contentsOf: expectedURL, encoding: .utf8)
            XCTAssertEqual(got + "\n", expected, name)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 20)
    }

    func testEmptyFileMeansAllDefaults() throws {
        let c = try ConfigLoader.load(path: fixtures.appendingPathComponent("empty.yaml").path, resolver: testResolver).get()
        XCTAssertEqual(c.listen.serviceSocket, "/run/keygate/keygate.sock")
        XCTAssertEqual(c.listen.adminSocket, "/run/keygate/admin.sock")
        XCTAssertEqual(c.listen.serviceMode, 0o660)
        XCTAssertEqual(c.listen.adminMode, 0o660)
        XCTAssertNil(c.listen.groupName)
        XCTAssertEqual(c.storagePath, "/var/lib/keygate/keygate.db")
        XCTAssertEqual(c.access.admin, [.user(name: "root", uid: 0)])
        XCTAssertEqual(c.access.manage, [])
        XCTAssertNil(c.access.verify)
        XCTAssertEqual(c.tokens.sweepInterval, 30)
        XCTAssertEqual(c.tokens.maxLivePerClient, 50)
        XCTAssertEqual(c.verify.ipHeader, "X-Real-IP")
        XCTAssertEqual(c.verify.failuresPerIP, 20)
        XCTAssertEqual(c.policies.defaultPolicy, Policy(name: "default", maxKeys: 5, tokenTTL: 3600, allowIPs: .any, scopes: []))
    }

    func testTheFullExampleLoadsEveryValue() throws {
        let c = try ConfigLoader.load(path: fixtures.appendingPathComponent("valid-full.yaml").path, resolver: testResolver).get()
        XCTAssertEqual(c.listen.groupName, "keygate")
        XCTAssertEqual(c.listen.groupID, 990)
        XCTAssertEqual(c.listen.adminMode, 0o600)
        XCTAssertEqual(c.access.admin, [.user(name: "root", uid: 0), .group(name: "keygate-admin", gid: 991, members: [1000, 1001])])
        XCTAssertTrue(c.access.admin[1].admits(uid: 1001, gid: 100), "a supplementary member")
        XCTAssertTrue(c.access.admin[1].admits(uid: 4242, gid: 991), "primary group")
        XCTAssertFalse(c.access.admin[1].admits(uid: 4242, gid: 100))
        XCTAssertEqual(c.access.manage, [.user(name: "webapp", uid: 1000)])
        XCTAssertEqual(c.access.verify, [.group(name: "keygate", gid: 990, members: [])])
        XCTAssertEqual(c.tokens.sweepInterval, 45)
        XCTAssertEqual(c.tokens.maxLivePerClient, 7)
        XCTAssertEqual(c.verify.ipHeader, "X-Forwarded-For")
        XCTAssertEqual(c.verify.failuresPerIP, 9)
        let partners = c.policies.policies["partners"]!
        XCTAssertEqual(partners.maxKeys, 10)
        XCTAssertEqual(partners.tokenTTL, 900)
        XCTAssertEqual(partners.scopes, ["read", "write"])
        XCTAssertEqual(partners.allowIPs.networks.map(\.description), ["198.51.100.0/24", "2001:db8:10::/48", "203.0.113.7"])
        XCTAssertEqual(c.policies.policy(for: "partner-acme").name, "partners")
        XCTAssertEqual(c.policies.policy(for: "acme").name, "default")
        XCTAssertEqual(c.digest.count, 64)
    }

    func testConnectionCaps() throws {
        let ok = ConfigLoader.parse(bytes: Array("listen:\n  max_service_connections: 40\n  max_admin_connections: 8\n".utf8),
                                    path: "caps.yaml", resolver: testResolver)
        guard case .success(let c) = ok else { return XCTFail("\(ok)") }
        XCTAssertEqual(c.listen.maxServiceConnections, 40)
        XCTAssertEqual(c.listen.maxAdminConnections, 8)
        XCTAssertEqual(KeygateConfiguration(path: "x", digest: "").listen.maxServiceConnections, 8192)
        let bad = ConfigLoader.parse(bytes: Array("listen:\n  max_service_connections: 0\n  max_admin_connections: lots\n".utf8),
                                     path: "caps.yaml", resolver: testResolver)
        guard case .failure(let e) = bad else { return XCTFail("accepted a cap of 0") }
        let text = e.description
        XCTAssertTrue(text.contains("caps.yaml:2:") && text.contains("listen.max_service_connections"), text)
        XCTAssertTrue(text.contains("caps.yaml:3:") && text.contains("listen.max_admin_connections") && text.contains("lots"), text)
    }

    func testOversizedFileIsRefused() {
        let big = [UInt8](repeating: UInt8(ascii: "#"), count: ConfigLoader.maxFileSize + 1)
        guard case .failure(let e) = ConfigLoader.parse(bytes: big, path: "big.yaml", resolver: testResolver) else { return XCTFail() }
        XCTAssertEqual(e.description, "big.yaml:1:1: the file is 1048577 bytes; a configuration may be at most 1048576 bytes (1 MiB)")
    }

    func testMissingFileIsAnError() {
        guard case .failure(let e) = ConfigLoader.load(path: "/nonexistent/keygate.yaml") else { return XCTFail() }
        XCTAssertEqual(e.description, "/nonexistent/keygate.yaml:1:1: cannot open the configuration: No such file or directory")
    }

    func testShippedFilesAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for f in ["etc/keygate/dev.yaml", "etc/keygate/keygate.yaml"] {
            let result = ConfigLoader.load(path: root.appendingPathComponent(f).path, resolver: testResolver)
            if case .failure(let e) = result { XCTFail("\(f): \(e)") }
        }
    }
}
