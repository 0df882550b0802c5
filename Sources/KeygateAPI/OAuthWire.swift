import Foundation
import KeygateCore

/// application/x-www-form-urlencoded (the WHATWG URL standard's parser, as RFC 6749 uses it).
public enum FormURLEncoded {
    public struct DecodeError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Decodes one component: '+' is a space, %XX a byte; the result must be UTF-8.
    /// Errors never quote the input: a form value may be a secret.
    public static func decodeComponent<S: StringProtocol>(_ s: S) throws -> String {
        var out = [UInt8]()
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            let c = u[i]
            if c == UInt8(ascii: "+") {
                out.append(0x20)
            } else if c == UInt8(ascii: "%") {
                guard i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) else {
                    throw DecodeError(description: "bad percent-encoding")
                }
                out.append(h << 4 | l)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        guard let str = String(validating: out, as: UTF8.self) else { throw DecodeError(description: "not valid UTF-8") }
        return str
    }

    public static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    /// The parameters of a body; a parameter given twice is an error, and one
    /// with an empty value counts as omitted (RFC 6749 section 3.2). With
    /// `known`, other parameters are ignored, however often they come, as
    /// RFC 6749 section 3.2 asks.
    public static func parse(_ bytes: [UInt8], known: Set<String>? = nil) throws -> [String: String] {
        var out: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let text = String(decoding: pair, as: UTF8.self)
            let kv = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name: String
            do { name = try decodeComponent(kv[0]) } catch let e as DecodeError {
                throw DecodeError(description: "a parameter name has \(e.description)")
            }
            if let known, !known.contains(name) { continue }
            let value: String
            do { value = kv.count > 1 ? try decodeComponent(kv[1]) : "" } catch let e as DecodeError {
                throw DecodeError(description: "the value of '\(Redact.echo(name, max: 40))' has \(e.description)")
            }
            if value.isEmpty { continue }
            if out[name] != nil { throw DecodeError(description: "parameter '\(Redact.echo(name, max: 40))' is given more than once") }
            out[name] = value
        }
        return out
    }

    public static func encodeComponent(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if Base62.isDigit(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "*") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else if b == 0x20 {
                out += "+"
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// HTTP Basic client authentication per RFC 6749 section 2.3.1: the client id
/// and secret are form-urlencoded, joined by ':', then base64-encoded.
public enum BasicCredentials {
    public static func parse(_ header: String) throws -> (id: String, secret: String)? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { return nil }
        guard let data = Data(base64Encoded: parts[1].trimmed(" \t")),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else {
            throw FormURLEncoded.DecodeError(description: "the Basic credentials are not base64 of 'id:secret'")
        }
        return (try FormURLEncoded.decodeComponent(text[..<colon]), try FormURLEncoded.decodeComponent(text[text.index(after: colon)...]))
    }

    public static func header(id: String, secret: String) -> String {
        let raw = FormURLEncoded.encodeComponent(id) + ":" + FormURLEncoded.encodeComponent(secret)
        return "Basic " + Data(raw.utf8).base64EncodedString()
    }
}

