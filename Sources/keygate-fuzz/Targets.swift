#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import KeygateConfig
import KeygateCore
import KeygateHTTP

/// Each target checks properties that must hold for any input, and traps
/// (which libFuzzer reports with the input) when one does not.
enum FuzzTargets {
    static let names = ["http", "json", "form", "address", "yaml", "scan"]

    static let selected: String = {
        guard let p = getenv("KEYGATE_FUZZ_TARGET") else { return "http" }
        return String(cString: p)
    }()

    static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "http": http(bytes)
        case "json": json(bytes)
        case "form": form(bytes)
        case "address": address(bytes)
        case "yaml": yaml(bytes)
        case "scan": scan(bytes)
        default: fatalError("unknown fuzz target '\(target)'; targets: \(names.joined(separator: ", "))")
        }
    }

    static func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { fatalError("property failed: \(what())") }
    }

    /// The secret scanner against the obvious slow one: every position that
    /// starts a word, every kind, the checksum; and each finding's line.
    static func scan(_ bytes: [UInt8]) {
        let found = SecretScanner.findings(in: bytes)
        func word(_ b: UInt8) -> Bool { Base62.isDigit(b) || b == UInt8(ascii: "_") }
        var expected: [(Int, SecretKind)] = []
        for i in bytes.indices where i == 0 || !word(bytes[i - 1]) {
            for kind in SecretKind.allCases {
                let end = i + kind.length
                guard end <= bytes.count, end == bytes.count || !word(bytes[end]) else { continue }
                if SecretFormat.classify(Array(bytes[i..<end])) == kind { expected.append((i, kind)) }
            }
        }
        check(found.map(\.offset) == expected.map(\.0) && found.map(\.kind) == expected.map(\.1),
              "the scanner found \(found.map(\.offset)), the slow scan \(expected.map(\.0))")
        for f in found {
            check(f.line == 1 + bytes[..<f.offset].filter { $0 == 10 }.count, "line \(f.line) at offset \(f.offset)")
            check(Array(f.secret.utf8) == Array(bytes[f.offset..<(f.offset + f.kind.length)]), "the secret is not the text at its offset")
        }
    }

    /// HTTP request decoding: the same result whole and in pieces, and each
    /// accepted request written out again decodes to itself.
    static func http(_ bytes: [UInt8]) {
        let whole = RequestStream.decode(bytes)
        let piece = bytes.first.map { Int($0 % 7) + 1 } ?? 1
        let pieces = RequestStream.decode(bytes, pieceSize: piece)
        check(whole.requests == pieces.requests && whole.end == pieces.end, "pieces of \(piece) decode differently")
        var previousKeptAlive = true
        for r in whole.requests {
            check(previousKeptAlive, "a request after one that closes the connection")
            previousKeptAlive = r.keepAlive
            check(r.body.count <= HTTPLimits.maxBodyBytes, "a body over the limit")
            var text = Array("\(r.method) \(r.target) HTTP/1.\(r.minorVersion)\r\n".utf8)
            for h in r.headers where !["content-length", "transfer-encoding"].contains(h.name.lowercased()) {
                text += Array(h.name.utf8) + Array(": ".utf8) + h.value + [13, 10]
            }
            if !r.body.isEmpty { text += Array("Content-Length: \(r.body.count)\r\n".utf8) }
            text += [13, 10] + r.body
            let again = RequestStream.decode(text)
            check(again.requests.count == 1, "a request written out again does not decode: \(again.end)")
            if let a = again.requests.first {
                check(a.method == r.method && a.target == r.target && a.body == r.body && a.keepAlive == r.keepAlive,
                      "a request written out again decodes differently")
            }
        }
    }

    /// The JSON parser and the hot path's scanner agree on what is JSON, and
    /// what parses writes out and parses back to the same value.
    static func json(_ bytes: [UInt8]) {
        let parsed = try? JSON.parse(bytes)
        let scanned: Bool = bytes.withUnsafeBufferPointer { p in
            var s = JSONScanner(p)
            do { try s.skipValue(); try s.expectEnd(); return true } catch { return false }
        }
        check((parsed != nil) == scanned, "JSON.parse and JSONScanner disagree")
        if let v = parsed {
            let again = try? JSON.parse(v.serialized())
            check(again == v, "a JSON value written out parses differently")
        }
    }

    /// Form bodies: every parameter decoded writes out and decodes back.
    static func form(_ bytes: [UInt8]) {
        guard let fields = try? FormURLEncoded.parse(bytes) else { return }
        let text = fields.sorted { $0.key < $1.key }
            .map { FormURLEncoded.encodeComponent($0.key) + "=" + FormURLEncoded.encodeComponent($0.value) }
            .joined(separator: "&")
        let again = try? FormURLEncoded.parse(Array(text.utf8))
        check(again == fields, "form parameters written out decode differently")
        _ = try? BasicCredentials.parse(String(decoding: bytes, as: UTF8.self))
    }

    /// Addresses and blocks: what parses prints and parses back to itself.
    static func address(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let a = IPAddress(text) {
            check(IPAddress(a.description) == a, "an address printed does not parse back")
        }
        if case .success(let n) = IPNetwork.parse(text) {
            guard case .success(let again) = IPNetwork.parse(n.description) else {
                check(false, "a block printed does not parse back"); return
            }
            check(again == n, "a block printed parses differently")
            check(n.contains(n.address), "a block does not contain its own address")
        }
    }

    /// The configuration loader (system libyaml): any bytes give a
    /// configuration or errors that each say where and what.
    static func yaml(_ bytes: [UInt8]) {
        let resolver = NameResolver(uid: { $0 == "root" ? 0 : nil }, gid: { $0 == "root" ? 0 : nil })
        switch ConfigLoader.parse(bytes: bytes, path: "/fuzz/keygate.yaml", resolver: resolver) {
        case .success:
            break
        case .failure(let errors):
            check(!errors.diagnostics.isEmpty, "a refused configuration without an error")
            for e in errors.diagnostics { check(!e.message.isEmpty && e.file == "/fuzz/keygate.yaml" && e.mark.line >= 1, "an error without a message or a place") }
        }
    }

    static func replay(_ args: [String]) {
        guard args.count >= 3, names.contains(args[1]) else {
            fputs("usage: keygate-fuzz TARGET FILE...   (targets: \(names.joined(separator: ", ")))\n", stderr)
            exit(2)
        }
        var count = 0
        for path in args[2...] {
            guard let f = fopen(path, "rb") else {
                fputs("keygate-fuzz: cannot open \(path)\n", stderr)
                exit(1)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&chunk, 1, chunk.count, f)
                if n <= 0 { break }
                bytes += chunk[..<n]
            }
            fclose(f)
            run(args[1], bytes)
            count += 1
        }
        print("keygate-fuzz \(args[1]): \(count) inputs, every property held")
    }
}
