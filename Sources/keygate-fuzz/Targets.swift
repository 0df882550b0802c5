#if canImport(Glibc)
import Glibc
#endif
import KeygateHTTP

/// Each target checks properties that must hold for any input, and traps
/// (which libFuzzer reports with the input) when one does not.
enum FuzzTargets {
    static let names = ["http"]

    static let selected: String = {
        guard let p = getenv("KEYGATE_FUZZ_TARGET") else { return "http" }
        return String(cString: p)
    }()

    static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "http": http(bytes)
        default: fatalError("unknown fuzz target '\(target)'; targets: \(names.joined(separator: ", "))")
        }
    }

    static func check(_ ok: Bool, _ what: @autoclosure () -> String) {
        if !ok { fatalError("property failed: \(what())") }
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
