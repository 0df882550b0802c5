import Crypto

/// Base62 alphabet used by every identifier and secret: digits, upper, lower.
public enum Base62 {
    public static let alphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// The value of a base62 digit (callers check `isDigit` first).
    @inline(__always)
    public static func value(_ c: UInt8) -> UInt8 {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x5A: return c - 0x41 + 10
        default: return c &- 0x61 &+ 36
        }
    }

    @inline(__always)
    public static func isDigit(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    /// `count` characters drawn uniformly from the OS CSPRNG (getrandom on Linux).
    /// Rejection sampling keeps the distribution unbiased: bytes >= 248 are redrawn.
    public static func random(count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            var word = rng.next() as UInt64
            for _ in 0..<8 where out.count < count {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                if byte < 248 { out.append(alphabet[Int(byte % 62)]) }
            }
        }
        return out
    }

    /// Fixed-width big-endian base62 rendering of a 32-bit value (62^6 > 2^32).
    public static func encode(_ value: UInt32, width: Int = 6) -> [UInt8] {
        var v = value
        var out = [UInt8](repeating: alphabet[0], count: width)
        var i = width - 1
        while v > 0 && i >= 0 {
            out[i] = alphabet[Int(v % 62)]
            v /= 62
            i -= 1
        }
        return out
    }
}

/// CRC-32 (IEEE 802.3, the zlib/PNG polynomial), used only as a typo check.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { crc = t[Int((crc ^ UInt32(b)) & 0xFF)] ^ (crc >> 8) }
        }
        return crc ^ 0xFFFF_FFFF
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { checksum($0) }
    }
}

/// SHA-256 of a secret, the only form in which secrets are kept. Stored as four
/// words so that hashing and comparing it in a dictionary costs no allocation.
public struct SecretDigest: Hashable, Sendable {
    public let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public init(of secret: [UInt8]) {
        self = secret.withUnsafeBufferPointer { SecretDigest(of: $0) }
    }

    public init(of secret: UnsafeBufferPointer<UInt8>) {
        var hasher = SHA256()
        hasher.update(bufferPointer: UnsafeRawBufferPointer(secret))
        self.init(words: hasher.finalize().withUnsafeBytes(Self.words))
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.init(words: bytes.withUnsafeBytes(Self.words))
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) {
        (w0, w1, w2, w3) = words
    }

    private static func words(_ raw: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        (raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
         raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self), raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
        }
        return out
    }

    /// Comparison whose time does not depend on where the digests differ.
    public func constantTimeEquals(_ other: SecretDigest) -> Bool {
        ((w0 ^ other.w0) | (w1 ^ other.w1) | (w2 ^ other.w2) | (w3 ^ other.w3)) == 0
    }
}

/// The kinds of secret Keygate issues, told apart by prefix (SPEC section 4).
public enum SecretKind: String, Sendable, CaseIterable {
    case apiKey = "kg_"
    case clientSecret = "kgs_"
    case accessToken = "kgat_"

    public static let randomLength = 40
    public static let checksumLength = 6

    public var prefix: String { rawValue }
    /// Total length: prefix, random part, checksum (a switch, not string work: the hot path asks).
    @inline(__always)
    public var length: Int {
        switch self {
        case .apiKey: return 3 + Self.randomLength + Self.checksumLength
        case .clientSecret: return 4 + Self.randomLength + Self.checksumLength
        case .accessToken: return 5 + Self.randomLength + Self.checksumLength
        }
    }
}

public enum SecretFormat {
    /// A new secret of the given kind: prefix, 40 random base62, 6 base62 CRC-32
    /// of everything before the checksum.
    public static func generate(_ kind: SecretKind) -> String {
        var bytes = Array(kind.prefix.utf8)
        bytes += Base62.random(count: SecretKind.randomLength)
        bytes += Base62.encode(CRC32.checksum(bytes))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The kind of a well-formed secret, or nil when the prefix, length, alphabet
    /// or checksum is wrong. Touches no state: a typo is refused before any lookup.
    public static func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> SecretKind? {
        let kind: SecretKind
        let n = bytes.count
        @inline(__always) func hasPrefix(_ p: StaticString) -> Bool {
            let c = p.utf8CodeUnitCount
            guard n >= c else { return false }
            for i in 0..<c where bytes[i] != p.utf8Start[i] { return false }
            return true
        }
        if n == SecretKind.apiKey.length, hasPrefix("kg_") {
            kind = .apiKey
        } else if n == SecretKind.clientSecret.length, hasPrefix("kgs_") {
            kind = .clientSecret
        } else if n == SecretKind.accessToken.length, hasPrefix("kgat_") {
            kind = .accessToken
        } else {
            return nil
        }
        let bodyEnd = n - SecretKind.checksumLength
        for i in (n - SecretKind.randomLength - SecretKind.checksumLength)..<n where !Base62.isDigit(bytes[i]) { return nil }
        var written: UInt64 = 0
        for i in bodyEnd..<n { written = written * 62 + UInt64(Base62.value(bytes[i])) }
        return written == UInt64(CRC32.checksum(UnsafeBufferPointer(rebasing: bytes[0..<bodyEnd]))) ? kind : nil
    }

    public static func classify(_ bytes: [UInt8]) -> SecretKind? {
        bytes.withUnsafeBufferPointer { classify($0) }
    }

    public static func classify(_ secret: String) -> SecretKind? {
        classify(Array(secret.utf8))
    }

    /// Why `s` is not a well-formed secret, in words that quote none of it:
    /// for error messages about text that may be a secret.
    public static func whyNot(_ s: String) -> String {
        let u = Array(s.utf8)
        let kinds = SecretKind.allCases.sorted { $0.prefix.count > $1.prefix.count }
        guard let kind = kinds.first(where: { u.starts(with: Array($0.prefix.utf8)) }) else {
            return "\(u.count) bytes that start with none of kg_, kgs_, kgat_"
        }
        guard u.count == kind.length else {
            return "\(kind.prefix) followed by \(u.count - kind.prefix.utf8.count) characters; expected \(kind.length - kind.prefix.utf8.count)"
        }
        if !u.dropFirst(kind.prefix.utf8.count).allSatisfy(Base62.isDigit) {
            return "\(kind.prefix) with characters outside A-Z a-z 0-9"
        }
        return "\(kind.prefix) with a checksum that does not match: mistyped or altered"
    }

    /// Whether text holds anything that could be a Keygate secret or part of
    /// one: such text is never echoed, stored as a name, or logged.
    public static func mightContainSecret<S: StringProtocol>(_ s: S) -> Bool {
        // Looked for in the text as given and with percent-encoding and JSON
        // escapes undone (twice, for double encoding): "%6Bg_…" and "\u006bg_…"
        // are the same secret.
        holds(s, containsPrefix)
    }

    /// Whether `test` holds for the text, or for it with percent-encoding and
    /// JSON escapes undone once or twice.
    static func holds<S: StringProtocol>(_ s: S, _ test: ([UInt8]) -> Bool) -> Bool {
        var text = Array(s.utf8)
        for round in 0..<3 {
            if test(text) { return true }
            guard round < 2, text.contains(UInt8(ascii: "%")) || text.contains(UInt8(ascii: "\\")) else { return false }
            text = unescaped(text)
        }
        return false
    }

    /// A secret prefix anywhere, even inside a longer word, followed by at
    /// least 8 base62 characters, in the text or once unescaped: a pasted
    /// secret wherever it sits, while "pkg_ci" and "backup_kg_eu" pass.
    public static func containsSecretRun<S: StringProtocol>(_ s: S) -> Bool {
        holds(s, secretRun)
    }

    static func secretRun(_ u: [UInt8]) -> Bool {
        secretRun(u.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, atWordStartOnly: false)
    }

    /// A prefix (kg_, kgs_, kgat_) followed by at least 8 base62 characters,
    /// anywhere or only where a word starts.
    static func secretRun(_ u: [UInt8], atWordStartOnly: Bool) -> Bool {
        var i = 0
        while i < u.count {
            if !atWordStartOnly || i == 0 || !Base62.isDigit(u[i - 1]) {
                for prefix in ["kg_", "kgs_", "kgat_"] {
                    let p = Array(prefix.utf8)
                    guard i + p.count <= u.count, Array(u[i..<(i + p.count)]) == p else { continue }
                    var run = 0
                    var j = i + p.count
                    while j < u.count && Base62.isDigit(u[j]) { run += 1; j += 1 }
                    if run >= 8 { return true }
                }
            }
            i += 1
        }
        return false
    }

    /// kg_, kgs_ or kgat_ anywhere, in any case.
    static func containsPrefix(_ t: [UInt8]) -> Bool {
        guard t.count >= 3 else { return false }
        @inline(__always) func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        var i = 0
        while i + 3 <= t.count {
            if lower(t[i]) == 0x6B && lower(t[i + 1]) == 0x67 {      // "kg"
                if t[i + 2] == 0x5F { return true }                    // kg_
                if i + 4 <= t.count, lower(t[i + 2]) == 0x73, t[i + 3] == 0x5F { return true }   // kgs_
                if i + 5 <= t.count, lower(t[i + 2]) == 0x61, lower(t[i + 3]) == 0x74, t[i + 4] == 0x5F { return true }  // kgat_
            }
            i += 1
        }
        return false
    }

    /// `%XX` and JSON's `\uXXXX` (and `\_`-style single escapes) decoded, other bytes kept.
    static func unescaped(_ t: [UInt8]) -> [UInt8] {
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: return b - 0x30
            case 0x41...0x46: return b - 0x41 + 10
            case 0x61...0x66: return b - 0x61 + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            let b = t[i]
            if b == UInt8(ascii: "%"), i + 2 < t.count, let h = hex(t[i + 1]), let l = hex(t[i + 2]) {
                out.append(h << 4 | l); i += 3; continue
            }
            if b == UInt8(ascii: "\\"), i + 1 < t.count {
                if t[i + 1] == UInt8(ascii: "u"), i + 5 < t.count,
                   let a = hex(t[i + 2]), let b2 = hex(t[i + 3]), let c = hex(t[i + 4]), let d = hex(t[i + 5]) {
                    let v = UInt32(a) << 12 | UInt32(b2) << 8 | UInt32(c) << 4 | UInt32(d)
                    if v < 0x80 { out.append(UInt8(v)) } else { out.append(0x3F) }
                    i += 6; continue
                }
                out.append(t[i + 1]); i += 2; continue
            }
            out.append(b); i += 1
        }
        return out
    }

    /// Whether text holds a Keygate secret or a recognisable piece of one: a
    /// prefix (kg_, kgs_, kgat_) at the start of a word followed by at least 8
    /// base62 characters. Used to refuse new names that are really pasted
    /// secrets; "pkg_ci" or "backup_kg_eu" are ordinary names.
    public static func containsSecretShape<S: StringProtocol>(_ s: S) -> Bool {
        secretRun(Array(s.utf8), atWordStartOnly: true)
    }

    /// What lists show of a secret: its first 8 characters, never more.
    public static func hint(_ secret: String) -> String { String(secret.prefix(8)) }
}

public enum Identifier {
    public static func keyID() -> String { "key_" + String(decoding: Base62.random(count: 16), as: UTF8.self) }
    public static func clientID() -> String { "kgc_" + String(decoding: Base62.random(count: 24), as: UTF8.self) }

    public static func isKeyID(_ s: String) -> Bool { isID(s, prefix: "key_", length: 16) }
    public static func isClientID(_ s: String) -> Bool { isID(s, prefix: "kgc_", length: 24) }

    static func isID(_ s: String, prefix: String, length: Int) -> Bool {
        let u = Array(s.utf8)
        return u.count == prefix.utf8.count + length && s.hasPrefix(prefix) && u.dropFirst(prefix.utf8.count).allSatisfy(Base62.isDigit)
    }
}

/// Account names: 1-64 characters from [A-Za-z0-9._@-] (SPEC section 1),
/// except "." and "..": HTTP clients (curl, requests) remove such path
/// segments, so no URL could name the account.
public enum AccountName {
    public static func isValid<S: StringProtocol>(_ s: S) -> Bool {
        let u = s.utf8
        guard (1...64).contains(u.count), s != ".", s != ".." else { return false }
        return u.allSatisfy { Base62.isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "@") || $0 == UInt8(ascii: "-") }
    }
}
