import XCTest
import KeygateAPI
import KeygateCore
@testable import KeygateServer

/// Every route of the table × every kind of peer × every method, against the
/// real responders: refused peers get 403 first, wrong methods 405 with the
/// table's Allow, and permitted calls reach their handler.
final class RouteMatrixTests: XCTestCase {
    func path(_ e: Endpoint) -> String { e.path(["account": "acme", "id": "key_4fT9aQ2mZ8bW1cXe"]) }

    func body(_ e: Endpoint) -> (String, [(String, String)]) {
        guard let p = e.request, let ex = p.example else { return ("", []) }
        if p.contentType.hasPrefix("application/x-www-form-urlencoded") {
            let form = (ex.objectValue?.members ?? []).map { "\($0.0)=\(FormURLEncoded.encodeComponent($0.1.stringValue ?? ""))" }.joined(separator: "&")
            return (form, [("Content-Type", p.contentType)])
        }
        return (ex.text, [("Content-Type", "application/json")])
    }

    func testPermissionMatrix() throws {
        let d = try InProcessDaemon()
        let peers: [(String, UInt32)] = [("admin", InProcessDaemon.admin), ("manage", InProcessDaemon.manager),
                                         ("verify", InProcessDaemon.verifier), ("stranger", InProcessDaemon.stranger)]
        for e in RouteTable.endpoints {
            for (name, uid) in peers {
                let allowed: Bool
                switch e.role {
                case .verify: allowed = name != "stranger"
                case .manage: allowed = name == "admin" || name == "manage"
                case .admin: allowed = name == "admin"
                }
                let (b, h) = body(e)
                let a = try d.send(e.socket, e.method, path(e), body: b, headers: h, uid: uid)
                if allowed {
                    XCTAssertNotEqual(a.status, 403, "\(name) refused at \(e.method) \(e.path): \(a.body)")
                    XCTAssertNotEqual(a.status, 405, "\(e.method) \(e.path)")
                    XCTAssertFalse(a.body.contains("no endpoint"), "\(e.method) \(e.path) did not reach its handler")
                } else {
                    XCTAssertEqual(a.status, 403, "\(name) let through at \(e.method) \(e.path)")
                    XCTAssertEqual(a.json?["error"], "forbidden")
                }
            }
        }
    }

    func testMethodMatrix() throws {
        let d = try InProcessDaemon()
        let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        for socket in APISocket.allCases {
            let byPath = Dictionary(grouping: RouteTable.endpoints(on: socket), by: \.path)
            for (_, endpoints) in byPath {
                let allow = endpoints.flatMap(\.methods)
                for m in methods where !allow.contains(m) {
                    let a = try d.send(socket, m, path(endpoints[0]), uid: InProcessDaemon.admin)
                    XCTAssertEqual(a.status, 405, "\(m) \(endpoints[0].path)")
                    XCTAssertEqual(a.headers.first(name: "Allow"), allow.joined(separator: ", "))
                    XCTAssertEqual(a.json?["error"], "method_not_allowed")
                }
            }
        }
    }

    /// A refused peer is refused even on paths that do not exist: nothing about
    /// the routes is learnt without permission.
    func testPermissionComesBeforeRouting() throws {
        let d = try InProcessDaemon()
        XCTAssertEqual(try d.send(.admin, "GET", "/no/such/thing", uid: InProcessDaemon.stranger).status, 403)
        XCTAssertEqual(try d.send(.admin, "GET", "/no/such/thing", uid: InProcessDaemon.manager).status, 404)
        XCTAssertEqual(try d.send(.service, "PUT", "/v1/verify", uid: InProcessDaemon.stranger).status, 403)
    }

    /// generate client's body is optional: none means the defaults; `null` is not an object.
    func testOptionalBodies() throws {
        let d = try InProcessDaemon()
        let none = try d.send(.admin, "POST", "/v1/accounts/acme/client", uid: InProcessDaemon.admin)
        XCTAssertEqual(none.status, 201, none.body)
        XCTAssertEqual(none.json?["allow_ips"], [])
        let null = try d.send(.admin, "POST", "/v1/accounts/acme/client", body: "null", uid: InProcessDaemon.admin)
        XCTAssertEqual(null.status, 400)
        XCTAssertEqual(null.json?["error_description"], "generate client: the body must be a JSON object, got null")
    }

    func testBodiesOnBodylessOperationsAreRefused() throws {
        let d = try InProcessDaemon()
        let a = try d.send(.admin, "GET", "/openapi.json", body: "{}", uid: InProcessDaemon.admin)
        XCTAssertEqual(a.status, 400)
        XCTAssertEqual(a.json?["error_description"], "GET /openapi.json takes no request body; got 2 bytes")
        let doc = try d.send(.service, "GET", "/openapi.json", uid: InProcessDaemon.verifier)
        XCTAssertEqual(doc.status, 200)
        XCTAssertEqual(doc.body, OpenAPIDocument.text(for: .service))
    }
}
