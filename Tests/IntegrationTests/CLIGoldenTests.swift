import Foundation
import XCTest
import KeygateAPI
import KeygateCore

/// The control tool's human output, one golden file per command
/// (Tests/IntegrationTests/Golden). Values that differ between runs (ids,
/// secrets, times, paths) are replaced by placeholders before comparing.
/// After an intended change: `make golden`, then review the diff.
/// A well-formed key nobody created, fixed so the golden output is stable.
enum SecretFormatProbe {
    static let unknownKey: String = {
        let body = "kg_" + String(repeating: "Q", count: 40)
        return body + String(decoding: Base62.encode(CRC32.checksum(Array(body.utf8))), as: UTF8.self)
    }()
}

final class CLIGoldenTests: XCTestCase {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static let update = ProcessInfo.processInfo.environment["KEYGATE_UPDATE_GOLDEN"] != nil

    func normalise(_ s: String, _ d: DaemonUnderTest) -> String {
        var t = s.replacingOccurrences(of: d.dir.path, with: "<DIR>")
        let rules: [(String, String)] = [
            (#"kgat_[0-9A-Za-z]{46}"#, "<ACCESS_TOKEN>"), (#"kgs_[0-9A-Za-z]{46}"#, "<CLIENT_SECRET>"), (#"kg_[0-9A-Za-z]{46}"#, "<API_KEY>"),
            (#"kgc_[0-9A-Za-z]{24}"#, "kgc_<CLIENT_ID.............>"), (#"key_[0-9A-Za-z]{16}"#, "key_<KEY_ID........>"),
            (#"kg_[0-9A-Za-z]{5}"#, "kg_<HNT>"), (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, "<TIME..............>"),
            (#"[0-9a-f]{64}"#, "<SHA256>"), (#"[0-9a-f]{12}\)"#, "<SHA12>)"), (#"up \d+s"#, "up <N>s"),
            (#"expires in \d+s"#, "expires in <N>s"), (#"keygated \d+\.\d+\.\d+"#, "keygated <VERSION>"),
            (#"\d{4}-\d\d-\d\d"#, "<DATE....>"),
        ]
        for (pattern, placeholder) in rules {
            t = t.replacingOccurrences(of: pattern, with: placeholder, options: .regularExpression)
        }
        return t
    }

    func golden(_ name: String, _ d: DaemonUnderTest, _ args: [String], stdin: String? = nil,
                file: StaticString = #filePath, line: UInt = #line) throws -> Run {
        let r = try d.cli(args, stdin: stdin)
        let shown = args.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let text = normalise("$ keygate \(shown)\nexit \(r.status)\n--- stdout\n\(r.out)--- stderr\n\(r.err)", d)
        let url = Self.dir.appendingPathComponent(name + ".txt")
        if Self.update {
            try text.write(to: url, atomically: true, encoding: .utf8)
        } else {
            let want = try? String(contentsOf: url, encoding: .utf8)
            XCTAssertEqual(text, want, "\(name): the output differs from Golden/\(name).txt (make golden rewrites it)", file: file, line: line)
        }
        return r
    }

    func testEveryCommandsOutput() throws {
        let d = try DaemonUnderTest(yaml: "policies:\n  default:\n    max_keys: 2\n")
        try d.start()
        _ = try golden("status", d, ["status"])
        _ = try golden("reload", d, ["reload"])
        _ = try golden("config-check", d, ["config", "check", d.configPath])
        let created = try golden("key-create", d, ["key", "create", "acme", "--name", "CRM sync", "--allow-ip", "203.0.113.7", "--expires", "90d"])
        let id = try XCTUnwrap(created.out.range(of: #"key_[0-9A-Za-z]{16}"#, options: .regularExpression).map { String(created.out[$0]) })
        let secret = try XCTUnwrap(created.out.range(of: #"kg_[0-9A-Za-z]{46}"#, options: .regularExpression).map { String(created.out[$0]) })
        _ = try golden("key-create-limit", d, ["key", "create", "acme", "--name", "second"])
        _ = try golden("key-create-refused", d, ["key", "create", "acme", "--name", "third"])
        _ = try golden("verify-valid", d, ["verify", "-", "--ip", "203.0.113.7"], stdin: secret + "\n")
        _ = try golden("verify-refused", d, ["verify", "-", "--ip", "198.51.100.1"], stdin: secret + "\n")
        _ = try golden("key-list", d, ["key", "list", "acme"])
        _ = try golden("key-usage", d, ["key", "usage", "acme", id])
        _ = try golden("key-update", d, ["key", "update", "acme", id, "--name", "CRM sync (EU)", "--unrestricted"])
        let rolled = try golden("key-roll", d, ["key", "roll", "acme", id, "--grace", "24h"])
        XCTAssertNotNil(rolled.out.range(of: #"kg_[0-9A-Za-z]{46}"#, options: .regularExpression))
        _ = try golden("key-list-rolling", d, ["key", "list", "acme"])
        _ = try golden("key-roll-unknown", d, ["key", "roll", "acme", "key_0000000000000000"])
        // A tree with the old secret (in its grace: live), an unknown key and a look-alike;
        // --revoke ends the old secret's grace (the key and its new secret stay).
        let tree = d.dir.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("config"), withIntermediateDirectories: true)
        try "API_KEY=\(secret)\n".write(to: tree.appendingPathComponent("config/app.env"), atomically: true, encoding: .utf8)
        try "# keys\nkg_not_a_secret\nunknown: \(SecretFormatProbe.unknownKey)\n"
            .write(to: tree.appendingPathComponent("notes.md"), atomically: true, encoding: .utf8)
        _ = try golden("scan", d, ["scan", tree.path])
        _ = try golden("scan-revoke", d, ["scan", "--revoke", tree.path])
        _ = try golden("scan-clean", d, ["scan", tree.appendingPathComponent("config").path])
        _ = try golden("client-show-none", d, ["client", "show", "acme"])
        _ = try golden("client-generate", d, ["client", "generate", "acme", "--allow-ip", "203.0.113.0/24"])
        _ = try golden("client-generate-no-terminal", d, ["client", "generate", "acme"])
        _ = try golden("client-generate-replace", d, ["client", "generate", "acme", "--grace", "1h", "--yes"])
        _ = try golden("client-show", d, ["client", "show", "acme"])
        _ = try golden("client-usage", d, ["client", "usage", "acme"])
        _ = try golden("tokens-revoke", d, ["tokens", "revoke", "acme"])
        _ = try golden("accounts", d, ["accounts"])
        _ = try golden("key-delete", d, ["key", "delete", "acme", id])
        _ = try golden("key-delete-unknown", d, ["key", "delete", "acme", id])
        _ = try golden("key-list-empty", d, ["key", "list", "globex"])
        _ = try golden("client-delete", d, ["client", "delete", "acme", "--yes"])
        _ = try golden("bad-account", d, ["key", "list", "no spaces"])
        let docs = try d.cli(["api-docs", "admin"])
        XCTAssertEqual(docs.out, OpenAPIDocument.text(for: .admin), "api-docs prints the document")
        d.stop()
        _ = try golden("unreachable", d, ["status"])
    }
}
