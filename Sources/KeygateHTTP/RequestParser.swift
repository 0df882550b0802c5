#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keygate's HTTP/1.1 request decoding (RFC 9112), strict where leniency lets
/// two parsers disagree about where a request ends: no bare LF or CR, no
/// obs-fold, no control bytes, one Content-Length, never Transfer-Encoding
/// together with Content-Length, chunked as the only transfer coding.
///
/// Pure functions over bytes, resumable as more bytes arrive, with no
/// dependency: the daemon's connection handler, the fuzzer and the
/// differential test against NIO's parser all drive the same code.

/// Why a request was refused, with the status it gets. Messages name the
/// header or the line, never a value (a value may be a secret).
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String

    public init(_ status: Int, _ code: String, _ message: String) {
        self.status = status; self.code = code; self.message = message
    }

    static func bad(_ message: String) -> HTTPParseError { HTTPParseError(400, "invalid_request", message) }
    public static let headTooLarge = HTTPParseError(431, "headers_too_large",
        "the request head is over the limit of \(HTTPLimits.maxHeadBytes) bytes or \(HTTPLimits.maxHeaderCount) header lines")
    public static let targetTooLong = HTTPParseError(414, "uri_too_long",
        "the request target is over the limit of \(HTTPLimits.maxTargetBytes) bytes")

    public var description: String { "\(status) \(code): \(message)" }
}

public enum HTTPLimits {
    /// The request line and every header line together, with their line ends.
    public static let maxHeadBytes = 16 * 1024
    public static let maxHeaderCount = 100
    public static let maxTargetBytes = 8 * 1024
    /// The largest request body, however it is framed.
    public static let maxBodyBytes = 64 * 1024
    /// A chunk-size line (size and extensions) or one trailer line.
    public static let maxChunkLineBytes = 1024
}

public enum BodyFraming: Equatable, Sendable {
    case none
    case length(Int)
    case chunked
}

/// A parsed request head. Ranges are offsets into the bytes it was parsed from.
public struct ParsedHead: Equatable, Sendable {
    public var method: Range<Int>
    public var target: Range<Int>
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// The header lines, from the first header's first byte to the end of the
    /// last header's CRLF (empty when there are none).
    public var headers: Range<Int>
    public var headerCount: Int
    public var framing: BodyFraming
    public var keepAlive: Bool
    public var expectContinue: Bool
    /// Where the body starts: the head's length, counting any empty lines before it.
    public var end: Int
}

public enum HeadResult: Equatable, Sendable {
    case incomplete
    case complete(ParsedHead)
    case invalid(HTTPParseError)
}

/// Where the search for the end of a head has got to, so that bytes arriving
/// one at a time are each looked at once.
public struct HeadScanner: Sendable {
    /// Offset of the request line (after any empty lines before it).
    public private(set) var start = 0
    private var scanned = 0
    private var sawStart = false

    public init() {}

    /// Whether any byte of a request (not an empty line before it) has arrived.
    public var begun: Bool { sawStart }

    /// Looks at the bytes not yet seen in `p` (which holds every byte of the
    /// head so far, from offset 0) and parses the head once its end is there.
    public mutating func scan(_ p: UnsafeRawBufferPointer) -> HeadResult {
        let n = p.count
        var i = scanned
        // RFC 9112 section 2.2: empty lines before a request are ignored.
        if !sawStart {
            while i < n {
                let b = p[i]
                if b == 13 {
                    guard i + 1 < n else { scanned = i; return .incomplete }
                    guard p[i + 1] == 10 else { return .invalid(.bad("a CR not followed by LF before the request line")) }
                    i += 2
                    start = i
                    if start > HTTPLimits.maxHeadBytes { return .invalid(.headTooLarge) }
                } else if b == 10 {
                    return .invalid(.bad("a bare LF before the request line; lines end with CRLF"))
                } else {
                    sawStart = true
                    break
                }
            }
            if !sawStart { scanned = i; return .incomplete }
        }
        // Line by line with memchr: each line must end in CRLF and hold no other CR.
        let base = p.baseAddress!
        while i < n {
            guard let found = memchr(base + i, 10, n - i) else {
                if let cr = memchr(base + i, 13, n - i), base.distance(to: UnsafeRawPointer(cr)) < n - 1 {
                    return .invalid(.bad("a CR not followed by LF in the request head"))
                }
                // A CR at the very end may be the start of a CRLF: look at it again.
                scanned = p[n - 1] == 13 ? n - 1 : n
                return n - start > HTTPLimits.maxHeadBytes ? .invalid(overflow(p)) : .incomplete
            }
            let lf = base.distance(to: UnsafeRawPointer(found))
            if lf - 1 > i, memchr(base + i, 13, lf - 1 - i) != nil {
                return .invalid(.bad("a CR not followed by LF in the request head"))
            }
            guard lf > start, p[lf - 1] == 13 else { return .invalid(.bad("a bare LF in the request head; lines end with CRLF")) }
            if lf - start >= 3 && p[lf - 2] == 10 && p[lf - 3] == 13 {
                guard lf + 1 - start <= HTTPLimits.maxHeadBytes else { return .invalid(.headTooLarge) }
                scanned = lf + 1
                return HTTPParser.parseHead(p, from: start, to: lf + 1)
            }
            i = lf + 1
        }
        scanned = n
        return n - start > HTTPLimits.maxHeadBytes ? .invalid(overflow(p)) : .incomplete
    }

    /// Over the limit without an end: 414 while the request line is unfinished, else 431.
    private func overflow(_ p: UnsafeRawBufferPointer) -> HTTPParseError {
        HTTPParser.lineEnd(p, from: start) == nil && p.count - start > HTTPLimits.maxTargetBytes + 32 ? .targetTooLong : .headTooLarge
    }
}

public enum HTTPParser {
    @inline(__always) static func isTchar(_ b: UInt8) -> Bool { tchar[Int(b)] }

    /// RFC 9110 section 5.6.2.
    static let tchar: [Bool] = (0..<256).map { b in
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(UInt8(b))
        }
    }

    static func lineEnd(_ p: UnsafeRawBufferPointer, from: Int) -> Int? {
        var i = from
        while i + 1 < p.count {
            if p[i] == 13 && p[i + 1] == 10 { return i }
            i += 1
        }
        return nil
    }

    /// Case-insensitive comparison of `p[r]` with a lowercase ASCII name.
    @inline(__always)
    static func equalsLowercase(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, _ name: StaticString) -> Bool {
        guard r.count == name.utf8CodeUnitCount else { return false }
        let s = name.utf8Start
        var j = 0
        for i in r {
            var b = p[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if b != s[j] { return false }
            j += 1
        }
        return true
    }

    /// Parses a complete head in `p[from..<to]` (`to` is just past its final CRLF CRLF).
    static func parseHead(_ p: UnsafeRawBufferPointer, from: Int, to: Int) -> HeadResult {
        // Request line: method SP request-target SP HTTP-version CRLF.
        var i = from
        while i < to && isTchar(p[i]) { i += 1 }
        let method = from..<i
        guard !method.isEmpty, i < to, p[i] == 0x20 else {
            return .invalid(.bad("the request line is not 'METHOD /path HTTP/1.1'"))
        }
        // Any token is a method (RFC 9110 section 9.1); one no route has gets
        // 405 with Allow from the router. Methods only route, never frame.
        guard method.count <= 32 else { return .invalid(.bad("the method is over 32 characters")) }
        i += 1
        let targetStart = i
        while i < to && p[i] > 0x20 && p[i] < 0x7F { i += 1 }
        let target = targetStart..<i
        if target.count > HTTPLimits.maxTargetBytes { return .invalid(.targetTooLong) }
        guard !target.isEmpty, i < to, p[i] == 0x20 else {
            return .invalid(.bad("the request line is not 'METHOD /path HTTP/1.1' (the target must be visible ASCII without spaces)"))
        }
        guard p[targetStart] == UInt8(ascii: "/") || (target.count == 1 && p[targetStart] == UInt8(ascii: "*")) else {
            return .invalid(.bad("the request target must be a path starting with '/'"))
        }
        i += 1
        guard i + 10 <= to, p[i] == 0x48, p[i + 1] == 0x54, p[i + 2] == 0x54, p[i + 3] == 0x50, p[i + 4] == 0x2F,
              p[i + 6] == 0x2E, p[i + 8] == 13, p[i + 9] == 10,
              (0x30...0x39).contains(p[i + 5]), (0x30...0x39).contains(p[i + 7]) else {
            return .invalid(.bad("the request line is not 'METHOD /path HTTP/1.1' (no valid HTTP version)"))
        }
        guard p[i + 5] == 0x31, p[i + 7] == 0x30 || p[i + 7] == 0x31 else {
            return .invalid(HTTPParseError(505, "http_version_not_supported", "only HTTP/1.1 and HTTP/1.0 are served"))
        }
        let minor = Int(p[i + 7] - 0x30)
        i += 10

        var head = ParsedHead(method: method, target: target, minorVersion: minor, headers: i..<(to - 2),
                              headerCount: 0, framing: .none, keepAlive: minor == 1, expectContinue: false, end: to)
        var contentLength: Int? = nil
        var chunked = false
        var sawTransferEncoding = false
        var hosts = 0
        var close = false, keepAlive = false
        var line = 0
        // Header lines up to the empty line that ends the head.
        while i < to - 2 {
            line += 1
            head.headerCount += 1
            if head.headerCount > HTTPLimits.maxHeaderCount { return .invalid(.headTooLarge) }
            let b0 = p[i]
            if b0 == 0x20 || b0 == 0x09 {
                return .invalid(.bad("header line \(line) starts with whitespace (obs-fold is not accepted)"))
            }
            let nameStart = i
            while isTchar(p[i]) { i += 1 }
            let name = nameStart..<i
            guard !name.isEmpty else { return .invalid(.bad("header line \(line) has no field name")) }
            guard p[i] == UInt8(ascii: ":") else {
                return .invalid(.bad(p[i] == 0x20 || p[i] == 0x09
                    ? "header line \(line) has whitespace before its colon"
                    : "header line \(line) has a character that is not allowed in a field name"))
            }
            i += 1
            while p[i] == 0x20 || p[i] == 0x09 { i += 1 }
            let valueStart = i
            var valueEnd = i
            while true {
                let b = p[i]
                if b == 13 { break }
                if b < 0x20 && b != 0x09 || b == 0x7F {
                    return .invalid(.bad("header line \(line) has a control character in its value"))
                }
                i += 1
                if b != 0x20 && b != 0x09 { valueEnd = i }
            }
            let value = valueStart..<valueEnd
            i += 2  // CRLF (the scanner checked every LF follows a CR)

            switch name.count {
            case 14 where equalsLowercase(p, name, "content-length"):
                guard contentLength == nil else { return .invalid(.bad("more than one Content-Length header")) }
                guard !value.isEmpty, value.count <= 18 else { return .invalid(.bad("Content-Length is not a number of bytes")) }
                var n = 0
                for j in value {
                    let d = p[j]
                    guard d >= 0x30 && d <= 0x39 else { return .invalid(.bad("Content-Length is not a number of bytes")) }
                    n = n * 10 + Int(d - 0x30)
                }
                contentLength = n
            case 17 where equalsLowercase(p, name, "transfer-encoding"):
                guard !sawTransferEncoding else { return .invalid(.bad("more than one Transfer-Encoding header")) }
                sawTransferEncoding = true
                guard equalsLowercase(p, value, "chunked") else {
                    return .invalid(HTTPParseError(501, "not_implemented",
                        "Transfer-Encoding other than 'chunked' alone is not supported; send Content-Length or chunked"))
                }
                chunked = true
            case 10 where equalsLowercase(p, name, "connection"):
                forEachToken(p, value) { t in
                    if equalsLowercase(p, t, "close") { close = true }
                    else if equalsLowercase(p, t, "keep-alive") { keepAlive = true }
                }
            case 6 where equalsLowercase(p, name, "expect"):
                guard equalsLowercase(p, value, "100-continue") else {
                    return .invalid(HTTPParseError(417, "expectation_failed", "the only expectation served is 100-continue"))
                }
                head.expectContinue = true
            case 4 where equalsLowercase(p, name, "host"):
                hosts += 1
                if hosts > 1 { return .invalid(.bad("more than one Host header")) }
            default:
                break
            }
        }
        if chunked {
            if contentLength != nil { return .invalid(.bad("both Transfer-Encoding and Content-Length; send one")) }
            if minor == 0 { return .invalid(.bad("Transfer-Encoding in an HTTP/1.0 request")) }
            head.framing = .chunked
        } else if let n = contentLength, n > 0 {
            head.framing = .length(n)
        }
        head.keepAlive = !close && (minor == 1 || keepAlive)
        if head.headers.lowerBound > head.headers.upperBound { head.headers = head.headers.lowerBound..<head.headers.lowerBound }
        return .complete(head)
    }

    /// Calls `body` with each comma-separated token of `p[r]`, trimmed.
    static func forEachToken(_ p: UnsafeRawBufferPointer, _ r: Range<Int>, _ body: (Range<Int>) -> Void) {
        var i = r.lowerBound
        while i < r.upperBound {
            while i < r.upperBound && (p[i] == 0x20 || p[i] == 0x09 || p[i] == UInt8(ascii: ",")) { i += 1 }
            let s = i
            while i < r.upperBound && p[i] != UInt8(ascii: ",") { i += 1 }
            var e = i
            while e > s && (p[e - 1] == 0x20 || p[e - 1] == 0x09) { e -= 1 }
            if e > s { body(s..<e) }
        }
    }

    /// The value of the first header named `name` (lowercase ASCII) among the
    /// header lines `headers` of a head that `parseHead` accepted.
    public static func header(_ name: StaticString, in p: UnsafeRawBufferPointer, lines headers: Range<Int>) -> Range<Int>? {
        header(in: p, lines: headers) { equalsLowercase(p, $0, name) }
    }

    /// The same, for a name known only at run time (lowercase ASCII).
    public static func header(named name: [UInt8], in p: UnsafeRawBufferPointer, lines headers: Range<Int>) -> Range<Int>? {
        header(in: p, lines: headers) { r in
            guard r.count == name.count else { return false }
            var j = 0
            for i in r {
                var b = p[i]
                if b >= 0x41 && b <= 0x5A { b |= 0x20 }
                if b != name[j] { return false }
                j += 1
            }
            return true
        }
    }

    /// The value of the first header whose name `matching` accepts.
    @inlinable
    public static func header(in p: UnsafeRawBufferPointer, lines headers: Range<Int>, matching: (Range<Int>) -> Bool) -> Range<Int>? {
        var found: Range<Int>? = nil
        forEachField(in: p, lines: headers) { name, value in
            if matching(name) { found = value; return false }
            return true
        }
        return found
    }

    /// Calls `body` with each header line's name and value ranges, in order,
    /// while it answers true.
    @inlinable
    public static func forEachField(in p: UnsafeRawBufferPointer, lines headers: Range<Int>,
                                    _ body: (_ name: Range<Int>, _ value: Range<Int>) -> Bool) {
        var i = headers.lowerBound
        while i < headers.upperBound {
            let s = i
            while p[i] != UInt8(ascii: ":") { i += 1 }
            let name = s..<i
            i += 1
            while p[i] == 0x20 || p[i] == 0x09 { i += 1 }
            let vs = i
            var ve = i
            while p[i] != 13 {
                if p[i] != 0x20 && p[i] != 0x09 { ve = i + 1 }
                i += 1
            }
            i += 2
            if !body(name, vs..<ve) { return }
        }
    }

    /// Every header line of an accepted head as (name, value) ranges, in order.
    public static func headerFields(in p: UnsafeRawBufferPointer, lines headers: Range<Int>) -> [(name: Range<Int>, value: Range<Int>)] {
        var out: [(name: Range<Int>, value: Range<Int>)] = []
        forEachField(in: p, lines: headers) { out.append(($0, $1)); return true }
        return out
    }
}
