import Foundation
import XCTest
@testable import KeygateCore

final class IPAddressTests: XCTestCase {
    func net(_ s: String) -> IPNetwork { try! IPNetwork.parse(s).get() }
    func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    func testParsesAndPrints() {
        XCTAssertEqual(ip("203.0.113.7").description, "203.0.113.7")
        XCTAssertEqual(ip("2001:db8::1").description, "2001:db8::1")
        XCTAssertEqual(ip("::ffff:203.0.113.7"), ip("203.0.113.7"))
        XCTAssertTrue(ip("::ffff:203.0.113.7").isIPv4)
        XCTAssertFalse(ip("::1").isIPv4)
        for bad in ["", "300.1.1.1", "1.2.3", "1.2.3.4.5", "::g", "fe80::1%eth0", "[::1]", " 1.2.3.4", "localhost", "1.2.3.4\u{0}junk"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv4Prefixes() {
        XCTAssertTrue(net("0.0.0.0/0").contains(ip("255.255.255.255")))
        XCTAssertTrue(net("0.0.0.0/0").contains(ip("::ffff:1.2.3.4")))
        XCTAssertFalse(net("0.0.0.0/0").contains(ip("2001:db8::1")), "an IPv4 /0 covers IPv4 only")
        XCTAssertTrue(net("10.0.0.0/8").contains(ip("10.255.255.255")))
        XCTAssertFalse(net("10.0.0.0/8").contains(ip("11.0.0.0")))
        XCTAssertTrue(net("203.0.113.7/32").contains(ip("203.0.113.7")))
        XCTAssertFalse(net("203.0.113.7/32").contains(ip("203.0.113.8")))
        XCTAssertTrue(net("203.0.113.7").contains(ip("203.0.113.7")))
        XCTAssertTrue(net("192.168.1.128/25").contains(ip("192.168.1.255")))
        XCTAssertFalse(net("192.168.1.128/25").contains(ip("192.168.1.127")))
    }

    func testIPv6Prefixes() {
        XCTAssertTrue(net("::/0").contains(ip("2001:db8::1")))
        XCTAssertTrue(net("::/0").contains(ip("1.2.3.4")), "::/0 covers every address, mapped IPv4 included")
        XCTAssertTrue(net("2001:db8:10::/48").contains(ip("2001:db8:10:ffff::1")))
        XCTAssertFalse(net("2001:db8:10::/48").contains(ip("2001:db8:11::1")))
        XCTAssertTrue(net("2001:db8::1/128").contains(ip("2001:db8::1")))
        XCTAssertFalse(net("2001:db8::1/128").contains(ip("2001:db8::2")))
        XCTAssertTrue(net("2001:db8::/65").contains(ip("2001:db8::7fff:ffff:ffff:ffff")))
        XCTAssertFalse(net("2001:db8::/65").contains(ip("2001:db8::8000:0:0:0")))
    }

    func testMappedAddressesMatchIPv4Rules() {
        XCTAssertTrue(net("198.51.100.0/24").contains(ip("::ffff:198.51.100.20")))
        XCTAssertTrue(net("::ffff:198.51.100.0/120").contains(ip("198.51.100.20")))
    }

    func testBadBlocksAreExplained() {
        XCTAssertEqual(IPNetwork.parse("10.0.0.0/33"), .failure(.badPrefix("10.0.0.0/33", max: 32)))
        XCTAssertEqual(IPNetwork.parse("::/129"), .failure(.badPrefix("::/129", max: 128)))
        XCTAssertEqual(IPNetwork.parse("10.0.0.0/"), .failure(.badPrefix("10.0.0.0/", max: 32)))
        XCTAssertEqual(IPNetwork.parse("10.0.0.0/-1"), .failure(.badPrefix("10.0.0.0/-1", max: 32)))
        XCTAssertEqual(IPNetwork.parse("300.1.1.1"), .failure(.notAnAddress("300.1.1.1")))
        XCTAssertEqual(IPNetwork.parse("10.0.0.1/8"), .failure(.hostBitsSet("10.0.0.1/8", network: "10.0.0.0/8")))
        XCTAssertEqual(IPNetwork.parse("2001:db8::1/32"), .failure(.hostBitsSet("2001:db8::1/32", network: "2001:db8::/32")))
        XCTAssertEqual("\(IPNetwork.ParseError.hostBitsSet("10.0.0.1/8", network: "10.0.0.0/8"))",
                       "'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?")
    }

    func testAllowLists() {
        let list = IPAllowList.only([net("10.0.0.0/8"), net("2001:db8::/32")])
        XCTAssertTrue(list.permits(ip("10.1.2.3")))
        XCTAssertTrue(list.permits(ip("2001:db8::5")))
        XCTAssertFalse(list.permits(ip("192.0.2.1")))
        XCTAssertFalse(list.permits(nil), "a restricted list needs an address")
        XCTAssertTrue(IPAllowList.any.permits(nil))
        XCTAssertFalse(IPAllowList.only([]).permits(ip("10.0.0.1")))
    }
}

/// The dotted-quad fast path against inet_pton on the same text.
final class IPv4FastPathTests: XCTestCase {
    func reference(_ s: String) -> IPAddress? {
        var a4 = in_addr()
        guard !s.utf8.contains(0), inet_pton(AF_INET, s, &a4) == 1 else { return nil }
        return IPAddress(ipv4: UInt32(bigEndian: a4.s_addr))
    }

    func testFastPathAgreesWithInetPton() {
        let alphabet: [Character] = ["0", "1", "2", "5", "9", ".", ".", "x", " ", ":", "-", "+"]
        var state: UInt64 = 0x1b873593
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var accepted = 0
        let fixed = ["0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "10.0.0.1", "1.2.3.04", "192.168.000.1"]
        var samples = fixed
        let digits: [Character] = ["0", "1", "2", "5", "5", "9"]
        for _ in 0..<20000 {
            var parts: [String] = []
            for _ in 0..<(3 + next() % 3) {
                parts.append(String((0..<(next() % 5)).map { _ in digits[next() % digits.count] }))
            }
            var text = Array(parts.joined(separator: "."))
            if next() % 4 == 0 { text.insert(alphabet[next() % alphabet.count], at: next() % (text.count + 1)) }
            samples.append(String(text))
        }
        for s in samples {
            let fast = s.utf8.withContiguousStorageIfAvailable(IPAddress.dottedQuad) ?? nil
            let ref = reference(s)
            if let f = fast {
                accepted += 1
                XCTAssertEqual(IPAddress(ipv4: f), ref, "'\(s)': the fast path accepted what inet_pton reads differently")
            }
            if !s.contains(":") { XCTAssertEqual(IPAddress(s), ref, "'\(s)'") }
        }
        XCTAssertGreaterThan(accepted, 50)
    }
}
