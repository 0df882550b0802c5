import KeygateCore

/// JSON Schema 2020-12 fragments for the wire types, written once beside each
/// type and assembled into the OpenAPI documents.
public enum Schema {
    public static func ref(_ name: String) -> JSON { ["$ref": .string("#/components/schemas/\(name)")] }

    /// `additional`: other members are allowed; `additionalForm`: other form
    /// parameters are allowed, each once (a string).
    public static func object(_ properties: [(String, JSON)], required: [String], description: String? = nil,
                              additional: Bool = false, additionalForm: Bool = false) -> JSON {
        var o: JSONObject = ["type": "object"]
        if let d = description { o["description"] = .string(d) }
        o["properties"] = .object(JSONObject(properties))
        if !required.isEmpty { o["required"] = .array(required.map(JSON.string)) }
        if additionalForm {
            o["additionalProperties"] = ["type": "string"]
        } else if !additional {
            o["additionalProperties"] = false
        }
        return .object(o)
    }

    public static func string(_ description: String? = nil, pattern: String? = nil, minLength: Int? = nil, maxLength: Int? = nil,
                              format: String? = nil, oneOf values: [String]? = nil, example: String? = nil) -> JSON {
        var o: JSONObject = ["type": "string"]
        if let d = description { o["description"] = .string(d) }
        if let p = pattern { o["pattern"] = .string(p) }
        if let n = minLength { o["minLength"] = .int(Int64(n)) }
        if let n = maxLength { o["maxLength"] = .int(Int64(n)) }
        if let f = format { o["format"] = .string(f) }
        if let v = values { o["enum"] = .array(v.map(JSON.string)) }
        if let e = example { o["examples"] = [.string(e)] }
        return .object(o)
    }

    public static func const(_ value: String, _ description: String? = nil) -> JSON {
        var o: JSONObject = ["const": .string(value)]
        if let d = description { o["description"] = .string(d) }
        return .object(o)
    }

    public static func constBool(_ value: Bool) -> JSON { ["const": .bool(value)] }

    public static func integer(_ description: String? = nil, minimum: Int64? = nil) -> JSON {
        var o: JSONObject = ["type": "integer"]
        if let d = description { o["description"] = .string(d) }
        if let m = minimum { o["minimum"] = .int(m) }
        return .object(o)
    }

    public static let boolean: JSON = ["type": "boolean"]

    public static func array(_ items: JSON, maxItems: Int? = nil, description: String? = nil) -> JSON {
        var o: JSONObject = ["type": "array", "items": items]
        if let m = maxItems { o["maxItems"] = .int(Int64(m)) }
        if let d = description { o["description"] = .string(d) }
        return .object(o)
    }

    /// `schema` or JSON null.
    public static func nullable(_ schema: JSON) -> JSON { ["anyOf": [schema, ["type": "null"]]] }

    public static func described(_ schema: JSON, _ description: String) -> JSON {
        guard case .object(var o) = schema else { return schema }
        o["description"] = .string(description)
        return .object(o)
    }

    // Shared field shapes.
    public static let account = string("An account name: 1-64 characters from A-Z a-z 0-9 . _ @ -, but not . or .. (which URLs cannot carry).",
                                       pattern: AccountName.pattern, example: "acme")
    public static let keyID = string("A key id: key_ and 16 base62 characters.", pattern: "^key_[0-9A-Za-z]{16}$",
                                     example: "key_4fT9aQ2mZ8bW1cXe")
    public static let clientID = string("A client id: kgc_ and 24 base62 characters.", pattern: "^kgc_[0-9A-Za-z]{24}$")
    public static let time = string("An RFC 3339 UTC time.", format: "date-time")
    public static let hint = string("The first 8 characters of the secret.", minLength: 8, maxLength: 8)
    static let ipv4: JSON = ["type": "string", "format": "ipv4"]
    static let ipv6: JSON = ["type": "string", "format": "ipv6"]
    static let octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    /// An IPv4 or IPv6 address.
    public static let address: JSON = ["description": "An IPv4 or IPv6 address.", "anyOf": [ipv4, ipv6]]
    /// An address or a CIDR block. The daemon also refuses a block with host
    /// bits set (10.0.0.1/8), which no schema can say.
    public static let network: JSON = [
        "description": "An IPv4 or IPv6 address, or a CIDR block with its host bits zero (192.0.2.0/24, 2001:db8::/32).",
        "anyOf": [ipv4, ipv6,
                  ["type": "string", "pattern": .string("^(\(octet)\\.){3}\(octet)/(3[0-2]|[12]?[0-9])$")],
                  ["type": "string", "pattern": "^[0-9A-Fa-f:.]{2,45}/(12[0-8]|1[01][0-9]|[1-9]?[0-9])$"]],
    ]
    public static let duration = string("A duration: whole seconds, or a number followed by s, m, h or d (90d, 12h, 30m).",
                                        pattern: "^[0-9]{1,9}[smhd]?$")
}

extension AccountName {
    /// The rule of `isValid` as a regular expression, for the documents.
    public static let pattern = "^([A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}|\\.[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,62}|\\.\\.[A-Za-z0-9._@-]{1,62})$"
}
