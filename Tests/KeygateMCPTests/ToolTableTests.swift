import XCTest
import KeygateAPI
@testable import KeygateMCP

/// The MCP tool table: names by MCP's rules, schemas that stand on their own,
/// annotations as SPEC 10 gives them, and the write filter.
final class ToolTableTests: XCTestCase {
    func testNamesFollowMCPRules() {
        var seen = Set<String>()
        for t in ToolTable.tools {
            XCTAssertTrue((1...128).contains(t.name.count), t.name)
            XCTAssertTrue(t.name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }, t.name)
            XCTAssertTrue(seen.insert(t.name).inserted, "\(t.name) twice")
        }
        XCTAssertEqual(seen, ["status", "list_accounts", "list_keys", "show_client", "create_key", "update_key",
                              "delete_key", "generate_client", "delete_client", "revoke_tokens", "key_usage", "client_usage", "roll_key"])
    }

    /// Every `$ref` resolves inside the schema itself; objects list only
    /// properties they define as required.
    func testSchemasAreSelfContainedJSONSchema() {
        func check(_ j: JSON, root: JSON, _ where_: String) {
            switch j {
            case .object(let o):
                if let r = o["$ref"]?.stringValue {
                    XCTAssertTrue(r.hasPrefix("#/$defs/"), "\(where_): \(r)")
                    XCTAssertNotNil(root["$defs"]?[String(r.dropFirst("#/$defs/".count))], "\(where_): \(r) unresolved")
                }
                if let req = o["required"]?.arrayValue {
                    let props = o["properties"]?.objectValue?.keys ?? []
                    for r in req { XCTAssertTrue(props.contains(r.stringValue ?? ""), "\(where_): required \(r) not defined") }
                }
                for (k, v) in o.members { check(v, root: root, where_ + "/" + k) }
            case .array(let a):
                for (i, v) in a.enumerated() { check(v, root: root, "\(where_)[\(i)]") }
            default:
                break
            }
        }
        for t in ToolTable.tools {
            XCTAssertEqual(t.inputSchema["type"], "object")
            XCTAssertEqual(t.outputSchema["type"], "object", "\(t.name): MCP output schemas are objects")
            check(t.inputSchema, root: t.inputSchema, t.name + " input")
            check(t.outputSchema, root: t.outputSchema, t.name + " output")
        }
    }

    func testAnnotationsAndWriteFilter() {
        let read = ToolTable.available(allowWrite: false).map(\.name)
        XCTAssertEqual(read, ["status", "list_accounts", "list_keys", "show_client", "key_usage", "client_usage"])
        XCTAssertEqual(ToolTable.available(allowWrite: true).count, ToolTable.tools.count)
        func t(_ n: String) -> ToolSpec { ToolTable.tools.first { $0.name == n }! }
        XCTAssertTrue(t("delete_key").destructive && t("delete_key").idempotent)
        XCTAssertTrue(t("update_key").idempotent && !t("update_key").destructive)
        XCTAssertTrue(!t("create_key").destructive && !t("create_key").readOnly)
        XCTAssertTrue(t("roll_key").destructive && !t("roll_key").idempotent && !t("roll_key").readOnly)
        XCTAssertTrue(t("key_usage").readOnly && t("client_usage").readOnly)
        XCTAssertTrue(t("generate_client").destructive && t("delete_client").destructive && t("revoke_tokens").destructive)
        for tool in ToolTable.tools where tool.readOnly { XCTAssertFalse(tool.destructive) }
    }

    func testSecretsStayOutOfTheSchemaWhenKept() {
        let out = ToolTable.tools.first { $0.name == "create_key" }!.outputSchema
        XCTAssertFalse(out["required"]?.arrayValue?.contains("key") ?? true)
        XCTAssertNotNil(out["properties"]?["secret_file"])
    }

    func testArgumentsAreCheckedBeforeTheDaemon() throws {
        let create = ToolTable.tools.first { $0.name == "create_key" }!
        XCTAssertThrowsError(try Arguments(["name": "x"], tool: create)) { XCTAssertEqual("\($0)", "create_key: 'account' is required") }
        XCTAssertThrowsError(try Arguments(["account": "a", "name": "x", "colour": "red"], tool: create)) {
            XCTAssertEqual("\($0)", "create_key: unknown argument 'colour'; expected account, name, allow_ips, expires_in")
        }
        let args = try Arguments(["account": "a", "name": 5], tool: create)
        XCTAssertThrowsError(try args.required("name")) { XCTAssertEqual("\($0)", "create_key: 'name' must be a string, got a number") }
        let c = Confinement(accounts: ["acme"])
        XCTAssertNoThrow(try c.check("acme"))
        XCTAssertThrowsError(try c.check("globex"))
        XCTAssertTrue(Confinement(accounts: []).admits("anyone"))
    }
}
