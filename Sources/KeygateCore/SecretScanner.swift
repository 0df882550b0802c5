/// Finds Keygate secrets in text (SPEC 12, `keygate scan`): a prefix at the
/// start of a word, exactly the secret's length of base62 after it, the end of
/// the word, and a checksum that matches. Ordinary text, identifiers that
/// merely start with `kg_`, and secrets with a typo are not reported.
public enum SecretScanner {
    public struct Finding: Equatable, Sendable {
        /// 1-based.
        public var line: Int
        /// Where the secret starts in the text, in bytes.
        public var offset: Int
        public var kind: SecretKind
        public var secret: String
    }

    @inline(__always)
    static func isWordByte(_ b: UInt8) -> Bool { Base62.isDigit(b) || b == UInt8(ascii: "_") }

    /// Every secret in `bytes`, in order.
    public static func findings(in bytes: [UInt8]) -> [Finding] {
        var out: [Finding] = []
        let n = bytes.count
        var line = 1
        var i = 0
        let k = UInt8(ascii: "k"), g = UInt8(ascii: "g"), nl = UInt8(ascii: "\n")
        while i < n {
            let b = bytes[i]
            if b == nl { line += 1; i += 1; continue }
            guard b == k, i + 2 < n, bytes[i + 1] == g, i == 0 || !isWordByte(bytes[i - 1]) else { i += 1; continue }
            var matched = false
            for kind in [SecretKind.accessToken, .clientSecret, .apiKey] {
                let len = kind.length
                guard i + len <= n else { continue }
                let prefix = kind.prefix.utf8
                guard zip(bytes[i..<(i + prefix.count)], prefix).allSatisfy({ $0 == $1 }) else { continue }
                if i + len < n && isWordByte(bytes[i + len]) { continue }
                let candidate = Array(bytes[i..<(i + len)])
                guard SecretFormat.classify(candidate) == kind else { continue }
                out.append(Finding(line: line, offset: i, kind: kind, secret: String(decoding: candidate, as: UTF8.self)))
                i += len
                matched = true
                break
            }
            if !matched { i += 1 }
        }
        return out
    }

    /// Binary files are skipped: a NUL byte in the first 8 KiB.
    public static func looksBinary(_ bytes: [UInt8]) -> Bool {
        bytes.prefix(8192).contains(0)
    }

    /// Files over this size are skipped.
    public static let maxFileSize = 10 * 1024 * 1024
}
