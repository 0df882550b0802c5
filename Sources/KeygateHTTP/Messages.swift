/// One decoded request, for tests and the fuzzer: the daemon's connection
/// handler uses the same parser but keeps ranges instead of copies.
public struct DecodedRequest: Equatable, Sendable, CustomStringConvertible {
    public var method: String
    public var target: String
    public var minorVersion: Int
    public var headers: [Header]
    public var body: [UInt8]
    public var keepAlive: Bool

    public struct Header: Equatable, Sendable {
        public var name: String
        public var value: [UInt8]
        public init(name: String, value: [UInt8]) { self.name = name; self.value = value }
    }

    public init(method: String, target: String, minorVersion: Int, headers: [Header], body: [UInt8], keepAlive: Bool) {
        self.method = method; self.target = target; self.minorVersion = minorVersion
        self.headers = headers; self.body = body; self.keepAlive = keepAlive
    }

    public var description: String {
        "\(method) \(target) HTTP/1.\(minorVersion) \(headers.map { "\($0.name)=\($0.value)" }) body=\(body.count) keepAlive=\(keepAlive)"
    }
}

public enum RequestStream {
    /// How a byte stream decodes: the requests it holds, then why it stopped.
    public enum End: Equatable, Sendable {
        /// Every byte was used (or the rest is the start of a request still arriving).
        case incomplete
        case error(HTTPParseError)
        /// A request's body is over the limit.
        case bodyTooLarge
    }

    /// Decodes every request in `bytes`, as a connection would if they
    /// arrived in pieces of `pieceSize` (nil: all at once).
    public static func decode(_ bytes: [UInt8], pieceSize: Int? = nil) -> (requests: [DecodedRequest], end: End) {
        var out: [DecodedRequest] = []
        var base = 0
        // Each request is decoded from its own start; a piece size limits what has "arrived".
        while base < bytes.count {
            var scanner = HeadScanner()
            var arrived = pieceSize.map { min(bytes.count, base + $0) } ?? bytes.count
            var headResult = HeadResult.incomplete
            while true {
                headResult = bytes[base..<arrived].withUnsafeBytes { scanner.scan($0) }
                if case .incomplete = headResult, arrived < bytes.count {
                    arrived = min(bytes.count, arrived + (pieceSize ?? bytes.count))
                    continue
                }
                break
            }
            guard case .complete(let head) = headResult else {
                if case .invalid(let e) = headResult { return (out, .error(e)) }
                return (out, .incomplete)
            }
            var body: [UInt8] = []
            var end = head.end
            switch head.framing {
            case .none:
                break
            case .length(let n):
                if n > HTTPLimits.maxBodyBytes { return (out, .bodyTooLarge) }
                guard base + head.end + n <= bytes.count else { return (out, .incomplete) }
                body = Array(bytes[(base + head.end)..<(base + head.end + n)])
                end = head.end + n
            case .chunked:
                var decoder = ChunkedDecoder(start: head.end)
                var status = ChunkedDecoder.Status.incomplete
                while true {
                    status = bytes[base..<arrived].withUnsafeBytes { decoder.advance($0) }
                    if case .incomplete = status, arrived < bytes.count {
                        arrived = min(bytes.count, arrived + (pieceSize ?? bytes.count))
                        continue
                    }
                    break
                }
                switch status {
                case .incomplete: return (out, .incomplete)
                case .invalid(let e): return (out, .error(e))
                case .tooLarge: return (out, .bodyTooLarge)
                case .complete(let e): body = decoder.body; end = e
                }
            }
            let request: DecodedRequest = bytes[base...].withUnsafeBytes { p in
                let fields = HTTPParser.headerFields(in: p, lines: head.headers).map {
                    DecodedRequest.Header(name: String(decoding: UnsafeRawBufferPointer(rebasing: p[$0.name]), as: UTF8.self),
                                          value: Array(UnsafeRawBufferPointer(rebasing: p[$0.value])))
                }
                return DecodedRequest(method: String(decoding: UnsafeRawBufferPointer(rebasing: p[head.method]), as: UTF8.self),
                                      target: String(decoding: UnsafeRawBufferPointer(rebasing: p[head.target]), as: UTF8.self),
                                      minorVersion: head.minorVersion, headers: fields, body: body, keepAlive: head.keepAlive)
            }
            out.append(request)
            base += end
            if !head.keepAlive { break }
        }
        return (out, .incomplete)
    }
}
