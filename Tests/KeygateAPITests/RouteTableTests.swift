import XCTest
@testable import KeygateAPI

final class RouteTableTests: XCTestCase {
    func testEveryOperationHasExactlyOneEndpoint() {
        let ids = RouteTable.endpoints.map(\.id)
        XCTAssertEqual(Set(ids), Set(OperationID.allCases))
        XCTAssertEqual(ids.count, OperationID.allCases.count)
        var seen = Set<String>()
        for e in RouteTable.endpoints {
            XCTAssertTrue(seen.insert("\(e.socket) \(e.method) \(e.path)").inserted, "\(e.method) \(e.path) listed twice")
        }
    }

    func testEveryEndpointIsFoundByItsMethodAndPath() {
        for e in RouteTable.endpoints {
            let path = e.path(["account": "acme", "id": "key_4fT9aQ2mZ8bW1cXe"])
            for m in e.methods {
                guard case .found(let found, let params) = RouteTable.match(socket: e.socket, method: m, path: path[...]) else {
                    return XCTFail("\(m) \(path) not found")
                }
                XCTAssertEqual(found.id, e.id)
                for name in e.parameterNames { XCTAssertFalse(params[name].isEmpty) }
            }
            let other: APISocket = e.socket == .service ? .admin : .service
            if case .found(let f, _) = RouteTable.match(socket: other, method: e.method, path: path[...]) {
                XCTAssertEqual(f.path, "/openapi.json", "\(e.path) must not answer on the \(other) socket")
            }
        }
    }

    func testWrongMethodIs405WithEveryAllowedMethod() {
        guard case .methodNotAllowed(let allow) = RouteTable.match(socket: .admin, method: "PUT", path: "/v1/accounts/acme/keys") else {
            return XCTFail("PUT on keys should be 405")
        }
        XCTAssertEqual(allow, "GET, POST")
        guard case .methodNotAllowed(let a2) = RouteTable.match(socket: .service, method: "POST", path: "/healthz") else { return XCTFail() }
        XCTAssertEqual(a2, "GET, HEAD")
        guard case .methodNotAllowed(let a3) = RouteTable.match(socket: .admin, method: "GET", path: "/v1/accounts/acme/keys/key_4fT9aQ2mZ8bW1cXe") else { return XCTFail() }
        XCTAssertEqual(a3, "PATCH, DELETE")
    }

    func testUnknownPathsAndEmptySegments() {
        for p in ["/", "/v1", "/v1/verify/", "/V1/verify", "/v1/accounts/acme/tokens"] {
            guard case .notFound = RouteTable.match(socket: p.hasPrefix("/v1/accounts") ? .admin : .service, method: "GET", path: p[...]) else {
                return XCTFail("\(p) should be unknown")
            }
        }
    }

    func testEmptyParametersReachTheHandler() {
        guard case .found(let e, let p) = RouteTable.match(socket: .admin, method: "GET", path: "/v1/accounts//keys") else { return XCTFail() }
        XCTAssertEqual(e.id, .listKeys)
        XCTAssertEqual(p["account"], "", "the handler answers 400 with the rule an account name breaks")
    }

    func testPathParametersArePercentDecoded() {
        guard case .found(_, let p) = RouteTable.match(socket: .admin, method: "GET", path: "/v1/accounts/a%40b/keys") else { return XCTFail() }
        XCTAssertEqual(p["account"], "a@b")
        guard case .found(_, let bad) = RouteTable.match(socket: .admin, method: "GET", path: "/v1/accounts/a%4/keys") else { return XCTFail() }
        XCTAssertEqual(bad["account"], "a%4", "a broken escape stays as sent, and then fails the name rules")
        XCTAssertEqual(RouteTable.endpoint(.listKeys).path(["account": "a b/c@d"]), "/v1/accounts/a%20b%2Fc@d/keys")
        XCTAssertEqual(PercentEncoding.decodeSegment("a%20b%2Fc@d"), "a b/c@d")
    }
}
