import KeygateHTTP
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

/// KeygateHTTP's request decoding against SwiftNIO's (llhttp) on the same
/// bytes. The rule: whatever Keygate accepts, NIO accepts and reads the same
/// way (same requests, same headers, same bodies, same keep-alive); Keygate
/// may refuse more. The smuggling cases are refused by Keygate with the
/// status each one gets, whatever NIO does with them.
final class HTTPDifferentialTests: XCTestCase {
    /// How NIO's decoder reads `bytes`: the requests, and whether it failed.
    static func nio(_ bytes: [UInt8]) -> (requests: [DecodedRequest], failed: Bool) {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderListSize = 1 << 20
        limits.maxHeaderFieldSize = 1 << 20
        limits.maxHeaderFieldCount = 10_000
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes,
                                                                                       informationalResponseStrategy: .drop,
                                                                                       limitConfiguration: limits)))
        defer { _ = try? channel.finish() }
        var failed = false
        do { try channel.writeInbound(ByteBuffer(bytes: bytes)) } catch { failed = true }
        var out: [DecodedRequest] = []
        var current: DecodedRequest?
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            switch part {
            case .head(let h):
                current = DecodedRequest(method: h.method.rawValue, target: h.uri, minorVersion: h.version.minor,
                                         headers: h.headers.map { .init(name: $0.name, value: Array(Self.trimmed($0.value).utf8)) },
                                         body: [], keepAlive: h.isKeepAlive)
            case .body(let b):
                current?.body.append(contentsOf: b.readableBytesView)
            case .end:
                if let c = current { out.append(c) }
                current = nil
            }
        }
        return (out, failed)
    }

    static func trimmed(_ s: String) -> String {
        String(s.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    /// Keygate's reading, with header values as NIO's String would hold them.
    static func keygate(_ bytes: [UInt8], pieceSize: Int? = nil) -> (requests: [DecodedRequest], end: RequestStream.End) {
        var (requests, end) = RequestStream.decode(bytes, pieceSize: pieceSize)
        for i in requests.indices {
            requests[i].headers = requests[i].headers.map { .init(name: $0.name, value: Array(String(decoding: $0.value, as: UTF8.self).utf8)) }
        }
        return (requests, end)
    }

    /// The requests up to and including the first that closes the connection.
    static func upToClose(_ r: [DecodedRequest]) -> [DecodedRequest] {
        guard let i = r.firstIndex(where: { !$0.keepAlive }) else { return r }
        return Array(r[...i])
    }

    /// The methods llhttp knows; Keygate takes any token as a method (the
    /// router answers 405), which routes but never frames, so a request with
    /// another method is where the comparison stops.
    static let nioMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"]

    static func upToUnknownMethod(_ r: [DecodedRequest]) -> [DecodedRequest] {
        guard let i = r.firstIndex(where: { !nioMethods.contains($0.method) }) else { return r }
        return Array(r[..<i])
    }

    /// Fails when Keygate accepts something NIO does not, or reads it differently.
    func assertAgrees(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let k = Self.keygate(bytes)
        let n = Self.nio(bytes)
        let kr = Self.upToUnknownMethod(Self.upToClose(k.requests))
        let nr = Self.upToClose(n.requests)
        // Every request Keygate accepted, NIO accepted the same way, in the same place.
        XCTAssertLessThanOrEqual(kr.count, nr.count, "\(label): Keygate accepted a request NIO did not: \(kr) vs \(nr)", file: file, line: line)
        for (a, b) in zip(kr, nr) {
            XCTAssertEqual(a, b, "\(label): Keygate and NIO read a request differently", file: file, line: line)
        }
        // The same bytes arriving in small pieces decode the same way.
        let pieces = Self.keygate(bytes, pieceSize: 3)
        XCTAssertEqual(pieces.requests, k.requests, "\(label): pieces of 3 bytes decode differently", file: file, line: line)
        XCTAssertEqual(pieces.end, k.end, "\(label): pieces of 3 bytes end differently", file: file, line: line)
    }

    static let get = Array("GET /healthz HTTP/1.1\r\nHost: keygate\r\n\r\n".utf8)
    static let post = Array("POST /v1/verify HTTP/1.1\r\nHost: keygate\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"key\":\"kg_x\"} ".utf8)
    static let chunked = Array("POST /oauth/token HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\ngrant\r\n18\r\n_type=client_credentials\r\n0\r\nX-Trailer: yes\r\n\r\n".utf8)

    func testValidRequestsDecodeAlike() {
        let cases: [(String, String)] = [
            ("get", String(decoding: Self.get, as: UTF8.self)),
            ("post", String(decoding: Self.post, as: UTF8.self)),
            ("chunked", String(decoding: Self.chunked, as: UTF8.self)),
            ("pipelined", String(decoding: Self.get + Self.post + Self.chunked + Self.get, as: UTF8.self)),
            ("http/1.0", "GET /healthz HTTP/1.0\r\n\r\n"),
            ("http/1.0 keep-alive", "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n"),
            ("connection close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            ("connection list", "GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n"),
            ("leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("optional whitespace", "GET / HTTP/1.1\r\nX-A:\t value \t\r\nX-B:\r\nX-C:v\r\n\r\n"),
            ("obs-text", "GET / HTTP/1.1\r\nX-A: caf\u{e9}\r\n\r\n"),
            ("query", "GET /v1/auth?x=1&y=%20 HTTP/1.1\r\n\r\n"),
            ("zero length", "POST /v1/verify HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
            ("leading zeros", "POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nokGET / HTTP/1.1\r\n\r\n"),
            ("upper-case chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"),
            ("expect", "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok"),
            ("many methods", "DELETE /v1/accounts/a/keys/1 HTTP/1.1\r\n\r\nPATCH /x HTTP/1.1\r\nContent-Length: 1\r\n\r\n{OPTIONS * HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\nPUT / HTTP/1.1\r\n\r\n"),
        ]
        for (label, text) in cases {
            let bytes = Array(text.utf8)
            let k = Self.keygate(bytes)
            XCTAssertFalse(k.requests.isEmpty, "\(label): Keygate refused a valid request (\(k.end))")
            if case .error(let e) = k.end { XCTFail("\(label): \(e)") }
            let n = Self.nio(bytes)
            XCTAssertFalse(n.failed, "\(label): NIO refused it")
            XCTAssertEqual(Self.upToClose(k.requests), Self.upToClose(n.requests), label)
            assertAgrees(bytes, label)
        }
        XCTAssertEqual(Self.keygate(Self.chunked).requests.first?.body, Array("grant_type=client_credentials".utf8))
        // Methods HTTP does not define are requests too; the router refuses them.
        XCTAssertEqual(Self.keygate(Array("BREW / HTTP/1.1\r\n\r\nQUERY /x HTTP/1.1\r\n\r\n".utf8)).requests.map(\.method), ["BREW", "QUERY"])
    }

    /// Request smuggling and other ambiguous framing: refused, with its status.
    func testAmbiguousFramingIsRefused() {
        let cases: [(String, String, Int)] = [
            ("two Content-Length", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
            ("two different Content-Length", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", 400),
            ("Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
            ("signed Content-Length", "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
            ("hex Content-Length", "POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc", 400),
            ("Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
            ("Content-Length then Transfer-Encoding", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("two Transfer-Encoding", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
            ("chunked, identity", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 501),
            ("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("obs-fold", "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400),
            ("obs-fold with tab", "GET / HTTP/1.1\r\nX-A: a\r\n\tContent-Length: 5\r\n\r\n", 400),
            ("bare LF after the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
            ("bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\n\n", 400),
            ("bare CR", "GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400),
            ("NUL in a value", "GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", 400),
            ("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\n\r\n", 400),
            ("DEL in a value", "GET / HTTP/1.1\r\nX-A: a\u{7f}\r\n\r\n", 400),
            ("space before the colon", "GET / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", 400),
            ("no colon", "GET / HTTP/1.1\r\nX-A\r\n\r\n", 400),
            ("two Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("absolute-form target", "GET http://a/ HTTP/1.1\r\n\r\n", 400),
            ("HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505),
            ("no version", "GET /\r\n\r\n", 400),
            ("two spaces", "GET  / HTTP/1.1\r\n\r\n", 400),
            ("over-long method", "\(String(repeating: "M", count: 33)) / HTTP/1.1\r\n\r\n", 400),
            ("chunk size overflow", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n", 400),
            ("chunk without CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 400),
            ("bare LF in a chunk line", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
            ("negative chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400),
            ("expectation other than continue", "POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417),
            ("over-long header line", "GET / HTTP/1.1\r\nX-A: \(String(repeating: "a", count: 20_000))\r\n\r\n", 431),
            ("too many headers", "GET / HTTP/1.1\r\n" + String(repeating: "X-A: a\r\n", count: 101) + "\r\n", 431),
            ("over-long target", "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\n\r\n", 414),
            ("over-long request line, unfinished", "GET /\(String(repeating: "a", count: 17_000))", 414),
        ]
        for (label, text, status) in cases {
            let bytes = Array(text.utf8)
            let k = Self.keygate(bytes)
            guard case .error(let e) = k.end else {
                XCTFail("\(label): Keygate did not refuse it: \(k.requests) \(k.end)")
                continue
            }
            XCTAssertTrue(k.requests.isEmpty, "\(label): a request was accepted before the refusal")
            XCTAssertEqual(e.status, status, "\(label): \(e)")
            XCTAssertFalse(e.message.isEmpty)
            assertAgrees(bytes, label)
        }
        // Oversize bodies are refused by the limit, however they are framed.
        XCTAssertEqual(Self.keygate(Array("POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n".utf8)).end, .bodyTooLarge)
        let big = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + String(repeating: "8000\r\n" + String(repeating: "a", count: 0x8000) + "\r\n", count: 3)
        XCTAssertEqual(Self.keygate(Array(big.utf8)).end, .bodyTooLarge)
    }

    /// Seeded mutations of valid requests: bytes that matter to framing
    /// inserted, deleted and replaced. Keygate never accepts what NIO
    /// refuses or reads a request differently.
    func testMutationsNeverMakeTheParsersDisagree() {
        let seeds = [Self.get, Self.post, Self.chunked, Self.get + Self.post, Self.post + Self.chunked,
                     Array("GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-A: b\r\n\r\n".utf8)]
        let interesting: [UInt8] = [13, 10, 0, 0x20, 0x09, 0x3A, 0x30, 0x35, 0x61, 0x3B, 0x2C, 0x7F, 0x80, 0xFF, 0x2F, 0x48]
        var state: UInt64 = 0x5eed_1234
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var accepted = 0
        for round in 0..<6000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<(1 + next() % 3) {
                let at = next() % (bytes.count + 1)
                let b = next() % 4 == 0 ? UInt8(truncatingIfNeeded: next()) : interesting[next() % interesting.count]
                switch next() % 3 {
                case 0: bytes.insert(b, at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                default: if at < bytes.count { bytes[at] = b }
                }
            }
            if !Self.keygate(bytes).requests.isEmpty { accepted += 1 }
            assertAgrees(bytes, "mutation \(round): \(bytes.map { $0 < 0x20 || $0 > 0x7e ? "\\x\(String($0, radix: 16))" : String(UnicodeScalar($0)) }.joined())")
        }
        // The mutations are not all refused (then the test would show nothing).
        XCTAssertGreaterThan(accepted, 1000)
    }
}
