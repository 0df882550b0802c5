import KeygateAPI
import MCP

/// Keygate's JSON and the SDK's `Value`, each way.
extension MCP.Value {
    init(_ json: JSON) {
        switch json {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let n): self = .int(Int(n))
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(MCP.Value.init))
        case .object(let o): self = .object(Dictionary(o.members.map { ($0.0, MCP.Value($0.1)) }, uniquingKeysWith: { $1 }))
        }
    }
}

extension JSON {
    init(_ value: MCP.Value) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let n): self = .int(Int64(n))
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .data(mimeType: _, let d): self = .string(d.base64EncodedString())
        case .array(let a): self = .array(a.map(JSON.init))
        case .object(let o): self = .object(JSONObject(o.keys.sorted().map { ($0, JSON(o[$0]!)) }))
        }
    }
}
