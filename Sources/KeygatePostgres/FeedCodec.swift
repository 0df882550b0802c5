import Foundation
import KeygateCore

/// The change feed's entries: a committed `StateChange` as JSON text, so
/// that another host applies exactly what the writer applied.
enum FeedCodec {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static let hexDigits = Array("0123456789abcdef".utf8)
    static func hex(_ d: SecretDigest) -> String {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in d.bytes { out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
    static func digest(_ s: Any?) throws -> SecretDigest {
        guard let s = s as? String, s.count == 64 else { throw Failure(description: "bad digest") }
        var bytes: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            guard let b = UInt8(s[i..<j], radix: 16) else { throw Failure(description: "bad digest") }
            bytes.append(b)
            i = j
        }
        guard let d = SecretDigest(bytes: bytes) else { throw Failure(description: "bad digest") }
        return d
    }

    static func ips(_ l: IPAllowList) -> String { l.networks.map(\.description).joined(separator: " ") }
    static func ips(_ s: Any?) -> IPAllowList {
        let nets = ((s as? String) ?? "").split(separator: " ").compactMap { try? IPNetwork.parse(String($0)).get() }
        return nets.isEmpty ? .any : .only(nets)
    }

    static func key(_ k: APIKey) -> [String: Any] {
        var o: [String: Any] = ["id": k.id, "account": k.account, "name": k.name, "digest": hex(k.digest), "hint": k.hint,
                                "allow_ips": ips(k.allowIPs), "created_at": k.createdAt]
        if let e = k.expiresAt { o["expires_at"] = e }
        if let p = k.previousDigest, let r = k.rollingUntil { o["previous_digest"] = hex(p); o["rolling_until"] = r }
        return o
    }
    static func key(_ o: [String: Any]) throws -> APIKey {
        guard let id = o["id"] as? String, let account = o["account"] as? String, let name = o["name"] as? String,
              let hint = o["hint"] as? String, let created = (o["created_at"] as? NSNumber)?.int64Value else { throw Failure(description: "bad key") }
        let rollingUntil = (o["rolling_until"] as? NSNumber)?.int64Value
        let previous = rollingUntil == nil ? nil : try digest(o["previous_digest"])
        return APIKey(id: id, account: account, name: name, digest: try digest(o["digest"]), hint: hint, allowIPs: ips(o["allow_ips"]),
                      createdAt: created, expiresAt: (o["expires_at"] as? NSNumber)?.int64Value,
                      previousDigest: previous, rollingUntil: previous == nil ? nil : rollingUntil)
    }
    static func pair(_ p: ClientPair) -> [String: Any] {
        ["client_id": p.clientID, "account": p.account, "digest": hex(p.secretDigest), "allow_ips": ips(p.allowIPs), "created_at": p.createdAt]
    }
    static func pair(_ o: [String: Any]) throws -> ClientPair {
        guard let id = o["client_id"] as? String, let account = o["account"] as? String,
              let created = (o["created_at"] as? NSNumber)?.int64Value else { throw Failure(description: "bad pair") }
        return ClientPair(clientID: id, account: account, secretDigest: try digest(o["digest"]), allowIPs: ips(o["allow_ips"]), createdAt: created)
    }
    static func token(_ t: AccessToken) -> [String: Any] {
        var o: [String: Any] = ["digest": hex(t.digest), "client_id": t.clientID, "account": t.account, "issued_at": t.issuedAt,
                                "expires_at": t.expiresAt, "revoked": t.revoked]
        if let s = t.scope { o["scope"] = s }
        return o
    }
    static func token(_ o: [String: Any]) throws -> AccessToken {
        guard let cid = o["client_id"] as? String, let account = o["account"] as? String,
              let iat = (o["issued_at"] as? NSNumber)?.int64Value, let exp = (o["expires_at"] as? NSNumber)?.int64Value
        else { throw Failure(description: "bad token") }
        return AccessToken(digest: try digest(o["digest"]), clientID: cid, account: account, scope: o["scope"] as? String,
                           issuedAt: iat, expiresAt: exp, revoked: (o["revoked"] as? Bool) ?? false)
    }

    /// nil for changes that stay on their host (sweeps: every host sweeps its own memory).
    static func encode(_ c: StateChange) -> String? {
        let o: [String: Any]
        switch c {
        case .keyCreated(let k): o = ["t": "key_created", "key": key(k)]
        case .keyUpdated(let k): o = ["t": "key_updated", "key": key(k)]
        case .keyRolled(let k): o = ["t": "key_rolled", "key": key(k)]
        case .keyDeleted(let id): o = ["t": "key_deleted", "id": id]
        case .clientReplaced(let p, let r):
            var x: [String: Any] = ["t": "client_replaced", "pair": pair(p)]
            if let r { x["previous_retires_at"] = r }
            o = x
        case .clientDeleted(let a): o = ["t": "client_deleted", "account": a]
        case .tokenIssued(let t): o = ["t": "token_issued", "token": token(t)]
        case .tokensRevoked(let d): o = ["t": "tokens_revoked", "digests": d.map(hex)]
        case .tokensDropped(let d): o = ["t": "tokens_dropped", "digests": d.map(hex)]
        case .purged: return nil
        }
        guard let data = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ text: String) throws -> StateChange {
        guard let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], let t = o["t"] as? String else {
            throw Failure(description: "a feed entry is not an object")
        }
        func obj(_ k: String) throws -> [String: Any] {
            guard let x = o[k] as? [String: Any] else { throw Failure(description: "feed entry \(t) lacks \(k)") }
            return x
        }
        switch t {
        case "key_created": return .keyCreated(try key(obj("key")))
        case "key_updated": return .keyUpdated(try key(obj("key")))
        case "key_rolled": return .keyRolled(try key(obj("key")))
        case "key_deleted": return .keyDeleted(id: (o["id"] as? String) ?? "")
        case "client_replaced": return .clientReplaced(try pair(obj("pair")), previousRetiresAt: (o["previous_retires_at"] as? NSNumber)?.int64Value)
        case "client_deleted": return .clientDeleted(account: (o["account"] as? String) ?? "")
        case "token_issued": return .tokenIssued(try token(obj("token")))
        case "tokens_revoked": return .tokensRevoked(try ((o["digests"] as? [Any]) ?? []).map(digest))
        case "tokens_dropped": return .tokensDropped(try ((o["digests"] as? [Any]) ?? []).map(digest))
        default: throw Failure(description: "unknown feed entry \(t)")
        }
    }
}
