#if canImport(Glibc)
import Glibc
#endif
import KeygateCore

/// Paths of both sockets' endpoints, shared by the daemon and the control tool.
public enum Route {
    public static let verify = "/v1/verify"
    public static let auth = "/v1/auth"
    public static let healthz = "/healthz"
    public static let metrics = "/metrics"
    public static let token = "/oauth/token"
    public static let introspect = "/oauth/introspect"
    public static let revoke = "/oauth/revoke"

    public static let status = "/v1/status"
    public static let reload = "/v1/reload"
    public static let accounts = "/v1/accounts"
    public static func keys(_ account: String) -> String { "/v1/accounts/\(account)/keys" }
    public static func key(_ account: String, _ id: String) -> String { "/v1/accounts/\(account)/keys/\(id)" }
    public static func client(_ account: String) -> String { "/v1/accounts/\(account)/client" }
    public static func revokeTokens(_ account: String) -> String { "/v1/accounts/\(account)/tokens/revoke" }
}

/// An error answered over either socket: `{"error":code,"error_description":text}`.
/// Codes are wire names and never change once shipped.
public struct APIError: Error, Sendable, CustomStringConvertible {
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

func optionalTime(_ t: Timestamp?) -> JSON { t.map { .string(TimeText.format($0)) } ?? .null }

/// What the admin API shows of an API key: never the secret, only its hint.
public struct KeyView: Sendable, Equatable {
    public var id: String
    public var name: String
    public var hint: String
    public var allowIPs: [String]
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var lastUsedAt: Timestamp?
    public var lastUsedIP: String?

    public init(_ k: APIKey) {
        id = k.id; name = k.name; hint = k.hint; allowIPs = k.allowIPs.networks.map(\.description)
        createdAt = k.createdAt; expiresAt = k.expiresAt; lastUsedAt = k.lastUsedAt; lastUsedIP = k.lastUsedIP
    }

    public var json: JSONObject {
        ["id": .string(id), "name": .string(name), "hint": .string(hint),
         "allow_ips": .array(allowIPs.map(JSON.string)),
         "created_at": .string(TimeText.format(createdAt)), "expires_at": optionalTime(expiresAt),
         "last_used_at": optionalTime(lastUsedAt), "last_used_ip": lastUsedIP.map(JSON.string) ?? .null]
    }

    public init?(json: JSON) {
        guard let id = json["id"]?.stringValue, let name = json["name"]?.stringValue,
              let hint = json["hint"]?.stringValue, let created = json["created_at"]?.stringValue.flatMap(TimeText.parse)
        else { return nil }
        self.id = id; self.name = name; self.hint = hint; self.createdAt = created
        self.allowIPs = json["allow_ips"]?.arrayValue?.compactMap(\.stringValue) ?? []
        self.expiresAt = json["expires_at"]?.stringValue.flatMap(TimeText.parse)
        self.lastUsedAt = json["last_used_at"]?.stringValue.flatMap(TimeText.parse)
        self.lastUsedIP = json["last_used_ip"]?.stringValue
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

    public func string(_ k: String, required: Bool = false) throws -> String? {
        guard let v = object[k], !v.isNull else {
            if required { throw APIError.invalidRequest("\(what): '\(k)' is required") }
            return nil
        }
        guard let s = v.stringValue else { throw APIError.invalidRequest("\(what): '\(k)' must be a string, got \(v.typeName)") }
        return s
    }

    /// A list of addresses and CIDR blocks; null or [] means unrestricted.
    public func allowList(_ k: String) throws -> IPAllowList? {
        guard let v = object[k] else { return nil }
        if v.isNull { return .any }
        guard let items = v.arrayValue else { throw APIError.invalidRequest("\(what): '\(k)' must be an array of addresses, got \(v.typeName)") }
        if items.count > 100 { throw APIError.invalidRequest("\(what): '\(k)' has \(items.count) entries; at most 100") }
        var nets: [IPNetwork] = []
        for item in items {
            guard let s = item.stringValue else { throw APIError.invalidRequest("\(what): '\(k)' entries must be strings, got \(item.typeName)") }
            switch IPNetwork.parse(s) {
            case .success(let n): if !nets.contains(n) { nets.append(n) }
            case .failure(let e):
                if Redact.looksSecret(s) { throw APIError.invalidRequest("\(what): \(k): an entry looks like a Keygate secret, not an address") }
                throw APIError.invalidRequest("\(what): \(k): \(e)")
            }
        }
        return nets.isEmpty ? .any : .only(nets)
    }

    public func duration(_ k: String, min: Int64, max: Int64) throws -> Int64? {
        guard let s = try string(k) else { return nil }
        guard let d = DurationText.parse(s) else {
            throw APIError.invalidRequest("\(what): '\(k)' must be a duration such as 90d, 12h, 30m or seconds, got '\(Redact.echo(s, max: 40))'")
        }
        guard d >= min && d <= max else {
            throw APIError.invalidRequest("\(what): '\(k)' of \(s) is out of range; expected \(DurationText.format(min)) to \(DurationText.format(max))")
        }
        return d
    }
}

public enum KeyName {
    public static let maxLength = 100

    /// Trims surrounding white space; 1-100 characters, no control characters.
    public static func validate(_ raw: String, what: String) throws -> String {
        let trimmed = String(raw.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
        guard !trimmed.isEmpty else { throw APIError.invalidRequest("\(what): 'name' must not be empty") }
        guard trimmed.count <= maxLength else {
            throw APIError.invalidRequest("\(what): 'name' is \(trimmed.count) characters; at most \(maxLength)")
        }
        if trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw APIError.invalidRequest("\(what): 'name' must not contain control characters")
        }
        if SecretFormat.containsSecretShape(trimmed) {
            throw APIError.invalidRequest("\(what): 'name' looks like a Keygate secret; a name is shown in lists and logs, so it is refused")
        }
        return trimmed
    }
}

public struct CreateKeyRequest: Sendable {
    public var name: String
    public var allowIPs: IPAllowList
    /// Lifetime in seconds; nil: never expires.
    public var expiresIn: Int64?

    public static let maxLifetime: Int64 = 10 * 365 * 86400

    public init(name: String, allowIPs: IPAllowList = .any, expiresIn: Int64? = nil) {
        self.name = name; self.allowIPs = allowIPs; self.expiresIn = expiresIn
    }

    public init(json: JSON) throws {
        let f = try RequestFields(json, what: "create key", allowed: ["name", "allow_ips", "expires_in"])
        name = try KeyName.validate(try f.string("name", required: true)!, what: "create key")
        allowIPs = try f.allowList("allow_ips") ?? .any
        expiresIn = try f.duration("expires_in", min: 60, max: Self.maxLifetime)
    }
}

public struct UpdateKeyRequest: Sendable {
    public var name: String?
    public var allowIPs: IPAllowList?

    public init(name: String? = nil, allowIPs: IPAllowList? = nil) { self.name = name; self.allowIPs = allowIPs }

    public init(json: JSON) throws {
        let f = try RequestFields(json, what: "update key", allowed: ["name", "allow_ips"])
        name = try f.string("name").map { try KeyName.validate($0, what: "update key") }
        allowIPs = try f.allowList("allow_ips")
        if name == nil && allowIPs == nil { throw APIError.invalidRequest("update key: give 'name', 'allow_ips' or both") }
    }
}

/// The service socket's verification answer (SPEC 5.1).
public enum VerifyResponse: Sendable, Equatable {
    case apiKey(account: String, keyID: String, name: String, policy: String)
    case accessToken(account: String, clientID: String, scope: String?, expiresIn: Int64)
    case refused(code: String)

    public init?(json: JSON) {
        guard let valid = json["valid"]?.boolValue else { return nil }
        if !valid { self = .refused(code: json["code"]?.stringValue ?? "UNKNOWN"); return }
        switch json["kind"]?.stringValue {
        case "api_key":
            self = .apiKey(account: json["account"]?.stringValue ?? "", keyID: json["key_id"]?.stringValue ?? "",
                           name: json["name"]?.stringValue ?? "", policy: json["policy"]?.stringValue ?? "")
        case "access_token":
            self = .accessToken(account: json["account"]?.stringValue ?? "", clientID: json["client_id"]?.stringValue ?? "",
                                scope: json["scope"]?.stringValue, expiresIn: json["expires_in"]?.intValue ?? 0)
        default: return nil
        }
    }
}
