/// A JSON value with members kept in order, so output is stable and readable.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int64? { if case .int(let n) = self { return n } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    public func serialized() -> [UInt8] {
        var w = JSONWriter()
        w.write(self)
        return w.bytes
    }

    public var text: String { String(decoding: serialized(), as: UTF8.self) }

    public static func parse<C: Collection>(_ bytes: C) throws -> JSON where C.Element == UInt8 {
        let arr = Array(bytes)
        return try arr.withUnsafeBufferPointer { buf in
            var s = JSONScanner(buf)
            let v = try s.parseValue(depth: 0)
            try s.expectEnd()
            return v
        }
    }
}

public struct JSONObject: Equatable, Sendable, ExpressibleByDictionaryLiteral {
    public var members: [(String, JSON)]

    public init(_ members: [(String, JSON)] = []) { self.members = members }
    public init(dictionaryLiteral elements: (String, JSON)...) { self.members = elements }

    public subscript(key: String) -> JSON? {
        get { members.first(where: { $0.0 == key })?.1 }
        set {
            if let i = members.firstIndex(where: { $0.0 == key }) {
                if let v = newValue { members[i].1 = v } else { members.remove(at: i) }
            } else if let v = newValue {
                members.append((key, v))
            }
        }
    }

    public var keys: [String] { members.map(\.0) }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

public struct JSONError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// A strict RFC 8259 scanner over bytes. It can walk an object without
/// building values, which is what the verification hot path does.
public struct JSONScanner {
    public static let maxDepth = 32
    let buf: UnsafeBufferPointer<UInt8>
    public private(set) var pos = 0

    public init(_ buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    @inline(__always) mutating func skipSpace() {
        while pos < buf.count {
            let c = buf[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
    }

    func fail(_ message: String) -> JSONError { JSONError(message: message, offset: pos) }

    @inline(__always) public mutating func peek() -> UInt8? {
        skipSpace()
        return pos < buf.count ? buf[pos] : nil
    }

    public mutating func expect(_ c: UInt8) throws {
        guard peek() == c else {
            throw fail(pos < buf.count ? "expected '\(Character(Unicode.Scalar(c)))'" : "unexpected end of JSON")
        }
        pos += 1
    }

    public mutating func expectEnd() throws {
        skipSpace()
        if pos != buf.count { throw fail("unexpected data after the JSON value") }
    }

    /// Walks the members of an object, handing each key's raw bytes to `body`,
    /// which must consume the value (with `readString`, `skipValue`, ...).
    public mutating func forEachMember(_ body: (inout JSONScanner, UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        if peek() == UInt8(ascii: "}") { pos += 1; return }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a member name in quotes") }
            let key = try rawStringRange()
            try expect(UInt8(ascii: ":"))
            try body(&self, UnsafeBufferPointer(rebasing: buf[key]))
            guard let c = peek() else { throw fail("unexpected end of JSON") }
            pos += 1
            if c == UInt8(ascii: "}") { return }
            if c != UInt8(ascii: ",") { pos -= 1; throw fail("expected ',' or '}'") }
        }
    }

    /// The bytes between the quotes of a string with no escapes; throws for
    /// control characters, and returns nil (position unchanged) when the string
    /// has escapes so the caller can decode it with `readString`.
    mutating func rawStringRange() throws -> Range<Int> {
        let start = pos
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        pos += 1
        let from = pos
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") { pos += 1; return from..<(pos - 1) }
            if c == UInt8(ascii: "\\") { pos = start; _ = try readString(); return from..<(pos - 1) }
            if c < 0x20 { throw fail("control character in a string") }
            pos += 1
        }
        throw fail("unterminated string")
    }

    public enum StringValue {
        /// The bytes between the quotes: the string had no escapes.
        case raw(UnsafeBufferPointer<UInt8>)
        case decoded(String)
    }

    /// Reads a string without copying it when it has no escapes.
    public mutating func readStringValue() throws -> StringValue {
        let start = pos
        let r = try rawStringRange()
        if buf[r].contains(UInt8(ascii: "\\")) {
            pos = start
            return .decoded(try readString())
        }
        return .raw(UnsafeBufferPointer(rebasing: buf[r]))
    }

    /// Reads a string value, decoding escapes; rejects invalid UTF-8.
    public mutating func readString() throws -> String {
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        pos += 1
        var out = [UInt8]()
        var runStart = pos
        while pos < buf.count {
            let c = buf[pos]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: buf[runStart..<pos])
                pos += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                return s
            }
            if c < 0x20 { throw fail("control character in a string") }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: buf[runStart..<pos])
                pos += 1
                guard pos < buf.count else { break }
                let e = buf[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard pos + 1 < buf.count, buf[pos] == UInt8(ascii: "\\"), buf[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in a string")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in a string") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate in a string")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    pos -= 1
                    throw fail("invalid escape in a string")
                }
                runStart = pos
                continue
            }
            pos += 1
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= buf.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    public mutating func skipValue() throws { _ = try parseValue(depth: 0) }

    public mutating func parseValue(depth: Int) throws -> JSON {
        guard depth < Self.maxDepth else { throw fail("JSON nested deeper than \(Self.maxDepth) levels") }
        guard let c = peek() else { throw fail("unexpected end of JSON") }
        switch c {
        case UInt8(ascii: "{"):
            var obj = JSONObject()
            try forEachMember { s, key in
                guard let k = String(validating: key, as: UTF8.self) else { throw s.fail("member name is not valid UTF-8") }
                let name = key.contains(UInt8(ascii: "\\")) ? try Self.decodeKey(key) : k
                if obj[name] != nil { throw s.fail("duplicate member '\(Redact.echo(name, max: 40))'") }
                obj.members.append((name, try s.parseValue(depth: depth + 1)))
            }
            return .object(obj)
        case UInt8(ascii: "["):
            pos += 1
            var arr: [JSON] = []
            if peek() == UInt8(ascii: "]") { pos += 1; return .array(arr) }
            while true {
                arr.append(try parseValue(depth: depth + 1))
                guard let d = peek() else { throw fail("unexpected end of JSON") }
                pos += 1
                if d == UInt8(ascii: "]") { return .array(arr) }
                if d != UInt8(ascii: ",") { pos -= 1; throw fail("expected ',' or ']'") }
            }
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return try number()
        }
    }

    static func decodeKey(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
        var quoted: [UInt8] = [0x22]
        quoted.append(contentsOf: raw)
        quoted.append(0x22)
        return try quoted.withUnsafeBufferPointer { var s = JSONScanner($0); return try s.readString() }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard pos + n <= buf.count else { throw fail("expected a JSON value") }
        for i in 0..<n where buf[pos + i] != word.utf8Start[i] { throw fail("expected a JSON value") }
        pos += n
    }

    mutating func number() throws -> JSON {
        let start = pos
        if pos < buf.count && buf[pos] == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1 }
        guard pos > intStart else { pos = start; throw fail("expected a JSON value") }
        if buf[intStart] == 0x30 && pos - intStart > 1 { throw fail("leading zero in a number") }
        var isInt = true
        if pos < buf.count && buf[pos] == UInt8(ascii: ".") {
            isInt = false; pos += 1
            let f = pos
            while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1 }
            guard pos > f else { throw fail("digits expected after '.'") }
        }
        if pos < buf.count && (buf[pos] == UInt8(ascii: "e") || buf[pos] == UInt8(ascii: "E")) {
            isInt = false; pos += 1
            if pos < buf.count && (buf[pos] == UInt8(ascii: "+") || buf[pos] == UInt8(ascii: "-")) { pos += 1 }
            let e = pos
            while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1 }
            guard pos > e else { throw fail("digits expected in exponent") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
        if isInt, let n = Int64(text) { return .int(n) }
        guard let d = Double(text), d.isFinite else { throw fail("number out of range") }
        return .double(d)
    }
}

/// Appends JSON text to a byte array; strings are escaped per RFC 8259.
public struct JSONWriter {
    public var bytes: [UInt8] = []
    public init() { bytes.reserveCapacity(256) }

    public mutating func write(_ v: JSON) {
        switch v {
        case .null: raw("null")
        case .bool(let b): raw(b ? "true" : "false")
        case .int(let n): raw(String(n))
        case .double(let d): raw(d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : String(d))
        case .string(let s): JSONWriter.appendString(s, to: &bytes)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (i, e) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(e)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            bytes.append(UInt8(ascii: "{"))
            for (i, (k, e)) in o.members.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(k, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                write(e)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    static let hex = Array("0123456789abcdef".utf8)

    public static func appendString<S: StringProtocol>(_ s: S, to out: inout [UInt8]) {
        out.append(0x22)
        for c in s.utf8 {
            switch c {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(c >> 4)]); out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(0x22)
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(JSONObject(elements)) }
    public init(nilLiteral: ()) { self = .null }
}
