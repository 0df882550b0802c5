/// Decodes a chunked body (RFC 9112 section 7.1) as its bytes arrive.
/// Resumable: each call looks only at bytes it has not finished with, so a
/// body trickled a byte at a time costs linear time. Chunk extensions are
/// checked and ignored; trailer lines are checked and dropped.
public struct ChunkedDecoder: Sendable {
    public enum Status: Equatable, Sendable {
        case incomplete
        /// The body is complete; the message ends at this offset.
        case complete(end: Int)
        case invalid(HTTPParseError)
        /// The decoded body would exceed the limit.
        case tooLarge
    }

    private enum State: Sendable {
        case sizeLine
        case data(remaining: Int)
        case dataEnd
        case trailer
        case done(Int)
    }

    private var state = State.sizeLine
    /// The next byte to look at, as an offset into the message's bytes.
    private var offset: Int
    private var lineStart: Int
    private let limit: Int
    public private(set) var body: [UInt8] = []

    /// `start` is the offset of the body's first byte.
    public init(start: Int, limit: Int = HTTPLimits.maxBodyBytes) {
        offset = start
        lineStart = start
        self.limit = limit
    }

    /// `p` holds the message from offset 0, with everything that has arrived.
    public mutating func advance(_ p: UnsafeRawBufferPointer) -> Status {
        while true {
            switch state {
            case .done(let end):
                return .complete(end: end)
            case .sizeLine, .trailer:
                // Find the CRLF that ends the line.
                while offset < p.count && p[offset] != 10 {
                    let b = p[offset]
                    if b == 13 {
                        guard offset + 1 < p.count else { return .incomplete }
                        guard p[offset + 1] == 10 else { return .invalid(.bad("a CR not followed by LF in a chunked body")) }
                        offset += 1
                        continue
                    }
                    if b < 0x20 && b != 0x09 || b == 0x7F { return .invalid(.bad("a control character in a chunked body's framing")) }
                    offset += 1
                    if offset - lineStart > HTTPLimits.maxChunkLineBytes { return .invalid(.bad("a chunk-size or trailer line over \(HTTPLimits.maxChunkLineBytes) bytes")) }
                }
                guard offset < p.count else { return .incomplete }
                guard offset > lineStart, p[offset - 1] == 13 else { return .invalid(.bad("a bare LF in a chunked body; lines end with CRLF")) }
                let line = lineStart..<(offset - 1)
                offset += 1
                lineStart = offset
                if case .trailer = state {
                    if line.isEmpty { state = .done(offset); continue }
                    guard Self.isFieldLine(p, line) else { return .invalid(.bad("a trailer line that is not 'name: value'")) }
                    continue
                }
                switch Self.chunkSize(p, line) {
                case nil:
                    return .invalid(.bad("a chunk size that is not a hexadecimal number"))
                case 0?:
                    state = .trailer
                case let n?:
                    guard body.count + n <= limit else { return .tooLarge }
                    state = .data(remaining: n)
                }
            case .data(let remaining):
                let available = min(remaining, p.count - offset)
                if available > 0 {
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[offset..<(offset + available)]))
                    offset += available
                }
                if available < remaining { state = .data(remaining: remaining - available); return .incomplete }
                state = .dataEnd
            case .dataEnd:
                guard offset + 2 <= p.count else { return .incomplete }
                guard p[offset] == 13, p[offset + 1] == 10 else { return .invalid(.bad("chunk data not followed by CRLF")) }
                offset += 2
                lineStart = offset
                state = .sizeLine
            }
        }
    }

    /// 1*HEXDIG, then optional `;ext` parts (extensions are ignored).
    static func chunkSize(_ p: UnsafeRawBufferPointer, _ line: Range<Int>) -> Int? {
        var n = 0
        var i = line.lowerBound
        var digits = 0
        while i < line.upperBound {
            let b = p[i]
            let d: Int
            switch b {
            case 0x30...0x39: d = Int(b - 0x30)
            case 0x41...0x46: d = Int(b - 0x41 + 10)
            case 0x61...0x66: d = Int(b - 0x61 + 10)
            default: d = -1
            }
            if d < 0 { break }
            digits += 1
            if digits > 8 { return nil }
            n = n * 16 + d
            i += 1
        }
        guard digits > 0, validExtensions(p, i..<line.upperBound) else { return nil }
        return n
    }

    /// `*( ";" token [ "=" ( token / quoted-string ) ] )`, RFC 9112 section
    /// 7.1.1 without the optional whitespace, and quoted strings of visible
    /// ASCII without escapes: stricter than the grammar, never looser.
    static func validExtensions(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> Bool {
        var i = r.lowerBound
        while i < r.upperBound {
            guard p[i] == UInt8(ascii: ";") else { return false }
            i += 1
            let nameStart = i
            while i < r.upperBound && HTTPParser.isTchar(p[i]) { i += 1 }
            guard i > nameStart else { return false }
            guard i < r.upperBound, p[i] == UInt8(ascii: "=") else { continue }
            i += 1
            if i < r.upperBound && p[i] == UInt8(ascii: "\"") {
                i += 1
                while i < r.upperBound && p[i] != UInt8(ascii: "\"") {
                    guard p[i] >= 0x20 && p[i] < 0x7F && p[i] != UInt8(ascii: "\\") else { return false }
                    i += 1
                }
                guard i < r.upperBound else { return false }
                i += 1
            } else {
                let valueStart = i
                while i < r.upperBound && HTTPParser.isTchar(p[i]) { i += 1 }
                guard i > valueStart else { return false }
            }
        }
        return true
    }

    static func isFieldLine(_ p: UnsafeRawBufferPointer, _ line: Range<Int>) -> Bool {
        var i = line.lowerBound
        while i < line.upperBound && HTTPParser.isTchar(p[i]) { i += 1 }
        return i > line.lowerBound && i < line.upperBound && p[i] == UInt8(ascii: ":")
    }
}
