import Foundation
import XCTest
@testable import KeygateAPI

final class JSONTests: XCTestCase {
    func parse(_ s: String) throws -> JSON { try JSON.parse(Array(s.utf8)) }

    func testRoundTrip() throws {
        let v: JSON = ["a": 1, "b": [true, false, nil], "c": "x\"y\\z\n\u{01}é", "d": .double(1.5)]
        XCTAssertEqual(try parse(v.text), v)
        XCTAssertEqual(JSON.string("\u{01}").text, #""\u0001""#)
    }

    func testEscapesAndSurrogates() throws {
        XCTAssertEqual(try parse(#""\u00e9\ud83d\ude00\/""#), .string("é😀/"))
        XCTAssertThrowsError(try parse(#""\ud83d""#))
        XCTAssertThrowsError(try parse(#""\x""#))
    }

    func testStrictness() {
        for bad in ["", "{", "{\"a\":1,}", "[1,]", "01", "1.", "tru", "{\"a\":1,\"a\":2}", "\"\u{01}\"", "[1] 2", "{a:1}"] {
            XCTAssertThrowsError(try parse(bad), bad)
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertThrowsError(try parse(deep), "nesting is bounded")
    }

    func testScannerReadsUnescapedStringsInPlace() throws {
        let bytes = Array(#"{"key":"kg_abc","ip":"1.2.3.4","n":{"x":[1,2]}}"#.utf8)
        try bytes.withUnsafeBufferPointer { buf in
            var s = JSONScanner(buf)
            var seen: [String] = []
            try s.forEachMember { sc, name in
                seen.append(String(decoding: name, as: UTF8.self))
                if name.elementsEqual("key".utf8), case .raw(let r) = try sc.readStringValue() {
                    XCTAssertEqual(String(decoding: r, as: UTF8.self), "kg_abc")
                } else {
                    try sc.skipValue()
                }
            }
            try s.expectEnd()
            XCTAssertEqual(seen, ["key", "ip", "n"])
        }
    }
}
