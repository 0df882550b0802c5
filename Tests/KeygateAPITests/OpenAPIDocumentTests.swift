import Foundation
import XCTest
@testable import KeygateAPI

/// The documents in docs/openapi are the ones the code builds; refresh them
/// with `make openapi` after changing the route table or a wire type.
final class OpenAPIDocumentTests: XCTestCase {
    static let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi")

    func testCommittedDocumentsMatchTheCode() throws {
        for socket in APISocket.allCases {
            let file = Self.docs.appendingPathComponent("\(socket.rawValue).json")
            let committed = try String(contentsOf: file, encoding: .utf8)
            XCTAssertEqual(committed, OpenAPIDocument.text(for: socket),
                           "docs/openapi/\(socket.rawValue).json differs from the route table; run `make openapi`")
        }
    }

    /// The table, the router and the documents list the same operations.
    func testDocumentsListExactlyTheTable() throws {
        for socket in APISocket.allCases {
            let doc = OpenAPIDocument.document(for: socket)
            var documented = Set<String>()
            var ids = Set<String>()
            for (path, item) in doc["paths"]?.objectValue?.members ?? [] {
                for (method, op) in item.objectValue?.members ?? [] {
                    documented.insert("\(method.uppercased()) \(path)")
                    ids.insert(op["operationId"]?.stringValue ?? "")
                    let concrete = path.replacingOccurrences(of: "{account}", with: "acme").replacingOccurrences(of: "{id}", with: "key_4fT9aQ2mZ8bW1cXe")
                    guard case .found = RouteTable.match(socket: socket, method: method.uppercased(), path: concrete[...]) else {
                        return XCTFail("the router does not answer the documented \(method) \(path)")
                    }
                }
            }
            let table = Set(RouteTable.endpoints(on: socket).flatMap { e in e.methods.map { "\($0) \(e.path)" } })
            XCTAssertEqual(documented, table)
            XCTAssertEqual(ids.count, documented.count, "operationIds are unique")
        }
    }

    func testEveryReferencedSchemaIsDefinedAndEveryOperationHasExamples() throws {
        for socket in APISocket.allCases {
            let doc = OpenAPIDocument.document(for: socket)
            let text = doc.text
            let defined = Set(doc["components"]?["schemas"]?.objectValue?.keys ?? [])
            var rest = Substring(text)
            while let r = rest.range(of: "#/components/schemas/") {
                let name = rest[r.upperBound...].prefix { $0 != "\"" }
                XCTAssertTrue(defined.contains(String(name)), "\(name) is referenced but not defined")
                rest = rest[r.upperBound...]
            }
            XCTAssertTrue(defined.contains("Error"))
            for (_, item) in doc["paths"]?.objectValue?.members ?? [] {
                for (method, op) in item.objectValue?.members ?? [] where method != "head" {
                    let responses = op["responses"]?.objectValue?.members ?? []
                    XCTAssertTrue(responses.contains { $0.0 == "403" }, "every operation documents 403")
                    for (status, r) in responses where status.hasPrefix("4") || status.hasPrefix("5") {
                        XCTAssertNotNil(r["content"]?["application/json"]?["examples"], "\(op["operationId"]!) \(status) has no example")
                    }
                    if let body = op["requestBody"] {
                        XCTAssertNotNil(body["content"]?.objectValue?.members.first?.1["example"], "\(op["operationId"]!) has no request example")
                    }
                }
            }
            XCTAssertTrue(doc["servers"]?.arrayValue?.first?["description"]?.stringValue?.contains("curl --unix-socket") ?? false)
        }
    }
}
