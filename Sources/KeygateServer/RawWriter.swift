#if canImport(Glibc)
import Glibc
#endif
import KeygateAPI
import NIOCore

/// Appends bytes into memory reserved beforehand, so that a whole answer is
/// one ByteBuffer access instead of one per piece (each access of NIO's
/// buffer costs a uniqueness and an exclusivity check; an answer had 30).
struct RawWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    @inline(__always)
    mutating func append(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        precondition(count + n <= capacity)
        memcpy(base + count, s.utf8Start, n)
        count += n
    }

    @inline(__always)
    mutating func append(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        precondition(count + bytes.count <= capacity)
        if let b = bytes.baseAddress { memcpy(base + count, b, bytes.count) }
        count += bytes.count
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(bytes.bindMemory(to: UInt8.self))
    }

    @inline(__always)
    mutating func append(byte: UInt8) {
        precondition(count < capacity)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// A non-negative integer in decimal.
    @inline(__always)
    mutating func appendDecimal(_ n: Int) {
        precondition(n >= 0)
        var v = n
        var digits = 1
        while v >= 10 { v /= 10; digits += 1 }
        precondition(count + digits <= capacity)
        v = n
        var i = count + digits - 1
        repeat {
            base.storeBytes(of: UInt8(48 + v % 10), toByteOffset: i, as: UInt8.self)
            v /= 10
            i -= 1
        } while v > 0
        count += digits
    }

    /// The most `appendJSONString` can write for `s`.
    @inline(__always)
    static func jsonStringBound(_ s: String) -> Int { 2 + 6 * s.utf8.count }

    /// `s` as a JSON string, quotes included, escaped as JSONWriter escapes.
    @inline(__always)
    mutating func appendJSONString(_ s: String) {
        var s = s
        s.withUTF8 { bytes in
            var plain = true
            for b in bytes where b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F { plain = false; break }
            if plain {
                append(byte: 0x22)
                append(bytes)
                append(byte: 0x22)
            } else {
                var escaped: [UInt8] = []
                JSONWriter.appendString(String(decoding: bytes, as: UTF8.self), to: &escaped)
                escaped.withUnsafeBufferPointer { append($0) }
            }
        }
    }
}

extension ByteBuffer {
    /// Writes at most `maxBytes` through `body` in one access.
    @inline(__always)
    mutating func writeRaw(maxBytes: Int, _ body: (inout RawWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: maxBytes) { raw in
            var w = RawWriter(UnsafeMutableRawBufferPointer(rebasing: raw[..<maxBytes]))
            body(&w)
            return w.count
        }
    }
}
