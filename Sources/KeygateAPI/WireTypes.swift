#if canImport(Glibc)
import Glibc
#endif
import KeygateCore

/// A type that crosses a socket as JSON: encoded and decoded here once, for
/// the daemon, the control tool and the MCP server, with the JSON Schema and
/// the example that the OpenAPI documents show. Field names never change once
/// shipped (STYLE habit 6).
public protocol WireType: Sendable {
    static var schemaName: String { get }
    static var schema: JSON { get }
    static var example: Self { get }
    var json: JSON { get }
    init(json: JSON) throws
}

/// An answer that does not have the shape its wire type promises.
public struct WireDecodingError: Error, CustomStringConvertible, Sendable {
    public var type: String
    public var field: String
    public var description: String { "\(type): '\(field)' is missing or has the wrong type" }
}

/// Reads the members of an answer, naming the missing one when it fails.
struct Members {
    let object: JSONObject
    let type: String

    init(_ json: JSON, _ type: String) throws {
        guard case .object(let o) = json else { throw WireDecodingError(type: type, field: "(the body)") }
        object = o
        self.type = type
    }

    func value(_ k: String) throws -> JSON {
        guard let v = object[k] else { throw WireDecodingError(type: type, field: k) }
        return v
    }
    func string(_ k: String) throws -> String {
        guard let s = object[k]?.stringValue else { throw WireDecodingError(type: type, field: k) }
        return s
    }
    func optionalString(_ k: String) -> String? { object[k]?.stringValue }
    func int(_ k: String) throws -> Int64 {
        guard let n = object[k]?.intValue else { throw WireDecodingError(type: type, field: k) }
        return n
    }
    func bool(_ k: String) throws -> Bool {
        guard let b = object[k]?.boolValue else { throw WireDecodingError(type: type, field: k) }
        return b
    }
    func time(_ k: String) throws -> Timestamp {
        guard let t = object[k]?.stringValue.flatMap(TimeText.parse) else { throw WireDecodingError(type: type, field: k) }
        return t
    }
    func optionalTime(_ k: String) -> Timestamp? { object[k]?.stringValue.flatMap(TimeText.parse) }
    func strings(_ k: String) throws -> [String] {
        guard let a = object[k]?.arrayValue else { throw WireDecodingError(type: type, field: k) }
        return a.compactMap(\.stringValue)
    }
    func list<T: WireType>(_ k: String, of: T.Type) throws -> [T] {
        guard let a = object[k]?.arrayValue else { throw WireDecodingError(type: type, field: k) }
        return try a.map(T.init(json:))
    }
}

func timeJSON(_ t: Timestamp?) -> JSON { t.map { .string(TimeText.format($0)) } ?? .null }

/// An error answered over either socket: `{"error":code,"error_description":text}`.
/// Codes are wire names and never change once shipped.
public struct APIError: Error, Sendable, CustomStringConvertible, Equatable {
    public var status: Int
    public var code: String
    public var message: String
    public var extra: JSONObject

    public init(_ status: Int, _ code: String, _ message: String, extra: JSONObject = JSONObject()) {
        self.status = status; self.code = code; self.message = message; self.extra = extra
    }

    public static func invalidRequest(_ message: String) -> APIError { APIError(400, "invalid_request", message) }
    public static func notFound(_ message: String) -> APIError { APIError(404, "not_found", message) }

    public var description: String { message }

    public var json: JSON {
        var o: JSONObject = ["error": .string(code), "error_description": .string(message)]
        o.members += extra.members
        return .object(o)
    }

    public init?(json: JSON, status: Int) {
        guard let code = json["error"]?.stringValue else { return nil }
        var extra = json.objectValue ?? JSONObject()
        extra["error"] = nil
        extra["error_description"] = nil
        self.init(status, code, json["error_description"]?.stringValue ?? code, extra: extra)
    }

    /// The lines of an invalid configuration (422 on reload).
    public var configurationErrors: [String] { extra["errors"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    public static let schemaName = "Error"
    public static let schema = Schema.object([
        ("error", Schema.string("A stable machine-readable code.", pattern: "^[a-z_]+$")),
        ("error_description", Schema.string("What went wrong, for a person.")),
        ("limit", Schema.integer("With key_limit_reached: the policy's max_keys.", minimum: 1)),
        ("policy", Schema.string("With key_limit_reached: the policy that sets the limit.")),
        ("errors", Schema.array(Schema.string(), description: "With invalid_configuration: every error, as file:line:column: message.")),
    ], required: ["error", "error_description"], description: "Every error answer of both sockets.")
}

/// RFC 3339 UTC timestamps for the admin API.
public enum TimeText {
    public static func format(_ t: Timestamp) -> String {
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        func pad(_ n: Int32, _ w: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, w - s.count)) + s }
        return "\(pad(tmv.tm_year + 1900, 4))-\(pad(tmv.tm_mon + 1, 2))-\(pad(tmv.tm_mday, 2))T\(pad(tmv.tm_hour, 2)):\(pad(tmv.tm_min, 2)):\(pad(tmv.tm_sec, 2))Z"
    }

    public static func parse(_ s: String) -> Timestamp? {
        let u = Array(s.utf8)
        guard u.count == 20, u[4] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T"), u[19] == UInt8(ascii: "Z") else { return nil }
        func num(_ r: Range<Int>) -> Int32? { Int32(String(decoding: u[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let sec = num(17..<19) else { return nil }
        var tmv = tm()
        tmv.tm_year = y - 1900; tmv.tm_mon = mo - 1; tmv.tm_mday = d; tmv.tm_hour = h; tmv.tm_min = mi; tmv.tm_sec = sec
        return Timestamp(timegm(&tmv))
    }
}

/// Field checks shared by every request decoder: unknown members are refused
/// by name, so a typo never silently does nothing.
public struct RequestFields {
    let object: JSONObject
    let what: String

    public init(_ json: JSON, what: String, allowed: [String]) throws {
        guard case .object(let o) = json else { throw APIError.invalidRequest("\(what): the body must be a JSON object, got \(json.typeName)") }
        for k in o.keys where !allowed.contains(k) {
            throw APIError.invalidRequest("\(what): unknown field '\(Redact.echo(k, max: 40))'; expected \(allowed.joined(separator: ", "))")
        }
        self.object = o
        self.what = what
    }

    public func has(_ k: String) -> Bool { object[k] != nil }

    /// A string member; null counts as absent unless `nullable` is false.
    public func string(_ k: String, required: Bool = false, nullable: Bool = true) throws -> String? {
        if !nullable, let v = object[k], v.isNull {
            throw APIError.invalidRequest("\(what): '\(k)' must be a string, got null")
        }
        guard let v = object[k], !v.isNull else {
            if required { throw APIError.invalidRequest("\(what): '\(k)' is required") }
            return nil
        }
        guard let s = v.stringValue else { throw APIError.invalidRequest("\(what): '\(k)' must be a string, got \(v.typeName)") }
        return s
    }

    /// The strings of a list; null counts as the empty list.
    public func strings(_ k: String, max: Int) throws -> [String]? {
        guard let v = object[k] else { return nil }
        if v.isNull { return [] }
        guard let items = v.arrayValue else { throw APIError.invalidRequest("\(what): '\(k)' must be an array of addresses, got \(v.typeName)") }
        if items.count > max { throw APIError.invalidRequest("\(what): '\(k)' has \(items.count) entries; at most \(max)") }
        return try items.map { item in
            guard let s = item.stringValue else { throw APIError.invalidRequest("\(what): '\(k)' entries must be strings, got \(item.typeName)") }
            return s
        }
    }
}

/// Turning wire values into domain values, with the messages a caller can act on.
public enum Validate {
    public static let maxAllowIPs = 100

    /// A list of addresses and CIDR blocks; [] means unrestricted.
    public static func allowList(_ items: [String], field: String, what: String) throws -> IPAllowList {
        var nets: [IPNetwork] = []
        for s in items {
            switch IPNetwork.parse(s) {
            case .success(let n): if !nets.contains(n) { nets.append(n) }
            case .failure(let e):
                if Redact.looksSecret(s) { throw APIError.invalidRequest("\(what): \(field): an entry looks like a Keygate secret, not an address") }
                throw APIError.invalidRequest("\(what): \(field): \(e)")
            }
        }
        return nets.isEmpty ? .any : .only(nets)
    }

    public static func duration(_ s: String, field: String, what: String, min: Int64, max: Int64) throws -> Int64 {
        guard let d = DurationText.parse(s) else {
            throw APIError.invalidRequest("\(what): '\(field)' must be a duration such as 90d, 12h, 30m or seconds, got '\(Redact.echo(s, max: 40))'")
        }
        guard d >= min && d <= max else {
            throw APIError.invalidRequest("\(what): '\(field)' of \(s) is out of range; expected \(DurationText.format(min)) to \(DurationText.format(max))")
        }
        return d
    }

    public static func keyName(_ s: String, what: String) throws -> String {
        do { return try KeyName.validate(s) } catch { throw APIError.invalidRequest("\(what): \(error.text)") }
    }
}

extension KeygateError {
    /// The reason alone, for messages that put their own context in front.
    public var text: String {
        if case .invalidArgument(let s) = self { return s }
        return "\(self)"
    }
}
