import Foundation
import XCTest
@testable import KeygateCore

final class SecretTests: XCTestCase {
    func testCRC32KnownVector() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
    }

    func testBase62EncodingIsFixedWidth() {
        XCTAssertEqual(String(decoding: Base62.encode(0), as: UTF8.self), "000000")
        XCTAssertEqual(String(decoding: Base62.encode(61), as: UTF8.self), "00000z")
        XCTAssertEqual(String(decoding: Base62.encode(62), as: UTF8.self), "000010")
        XCTAssertEqual(String(decoding: Base62.encode(UInt32.max), as: UTF8.self), "4gfFC3")
    }

    func testGeneratedSecretsHaveTheSpecFormat() {
        for kind in SecretKind.allCases {
            let s = SecretFormat.generate(kind)
            XCTAssertTrue(s.hasPrefix(kind.prefix))
            XCTAssertEqual(s.utf8.count, kind.prefix.utf8.count + 46)
            XCTAssertEqual(s.utf8.count, kind.length)
            XCTAssertTrue(s.utf8.dropFirst(kind.prefix.utf8.count).allSatisfy(Base62.isDigit))
            XCTAssertEqual(SecretFormat.classify(s), kind)
        }
    }

    func testSecretsAreNotRepeated() {
        let many = Set((0..<2000).map { _ in SecretFormat.generate(.apiKey) })
        XCTAssertEqual(many.count, 2000)
    }

    func testRandomCharactersAreSpreadOverTheAlphabet() {
        let chars = Base62.random(count: 62 * 400)
        var counts = [UInt8: Int]()
        for c in chars { counts[c, default: 0] += 1 }
        XCTAssertEqual(counts.count, 62)
        // Expected 400 each; a biased generator (modulo without rejection) would skew the first 8 symbols.
        for (_, n) in counts { XCTAssert(n > 250 && n < 560, "count \(n) far from 400") }
    }

    func testEveryOneCharacterTypoIsMalformed() {
        let s = Array(SecretFormat.generate(.apiKey).utf8)
        for i in 3..<s.count {
            var t = s
            t[i] = t[i] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            XCTAssertNil(SecretFormat.classify(t), "typo at \(i) not caught")
        }
    }

    func testMalformedShapes() {
        let good = SecretFormat.generate(.accessToken)
        XCTAssertNil(SecretFormat.classify(""))
        XCTAssertNil(SecretFormat.classify("kg_"))
        XCTAssertNil(SecretFormat.classify(String(good.dropLast())))
        XCTAssertNil(SecretFormat.classify(good + "0"))
        XCTAssertNil(SecretFormat.classify("xx" + good.dropFirst(2)))
        XCTAssertNil(SecretFormat.classify(good.replacingOccurrences(of: String(good.last!), with: "-")))
    }

    func testSecretShapesInNames() {
        let key = SecretFormat.generate(.apiKey)
        XCTAssertTrue(SecretFormat.containsSecretShape(key))
        XCTAssertTrue(SecretFormat.containsSecretShape("oops " + String(key.prefix(20))))
        XCTAssertTrue(SecretFormat.containsSecretShape(SecretFormat.generate(.clientSecret)))
        XCTAssertTrue(SecretFormat.containsSecretShape(SecretFormat.generate(.accessToken)))
        for ordinary in ["pkg_ci", "backup_kg_eu", "pkg_sync", "kg_", "kg_short", "CRM sync", "my-kgs_x"] {
            XCTAssertFalse(SecretFormat.containsSecretShape(ordinary), ordinary)
        }
        XCTAssertTrue(AccountName.isValid("pkg_ci"), "SPEC 1: any 1-64 characters from the account alphabet")
    }

    func testHintIsTheFirstEightCharacters() {
        let s = SecretFormat.generate(.apiKey)
        XCTAssertEqual(SecretFormat.hint(s), String(s.prefix(8)))
        XCTAssertEqual(SecretFormat.hint(s).count, 8)
    }

    func testIdentifiers() {
        let k = Identifier.keyID(), c = Identifier.clientID()
        XCTAssertTrue(Identifier.isKeyID(k))
        XCTAssertEqual(k.count, 20)
        XCTAssertTrue(Identifier.isClientID(c))
        XCTAssertEqual(c.count, 28)
        XCTAssertFalse(Identifier.isKeyID("key_short"))
        XCTAssertFalse(Identifier.isKeyID("key_!!!!!!!!!!!!!!!!"))
    }

    func testDigestRoundTripAndConstantTimeCompare() {
        let a = SecretDigest(of: Array("kg_one".utf8)), b = SecretDigest(of: Array("kg_two".utf8))
        XCTAssertEqual(SecretDigest(bytes: a.bytes), a)
        XCTAssertTrue(a.constantTimeEquals(a))
        XCTAssertFalse(a.constantTimeEquals(b))
        // SHA-256("abc")
        XCTAssertEqual(SecretDigest(of: Array("abc".utf8)).bytes.map { String(format: "%02x", $0) }.joined(),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testAccountNames() {
        XCTAssertTrue(AccountName.isValid("acme"))
        XCTAssertFalse(AccountName.isValid("."), "no URL can name it: clients remove dot segments")
        XCTAssertFalse(AccountName.isValid(".."))
        XCTAssertTrue(AccountName.isValid("..."))
        XCTAssertTrue(AccountName.isValid(".a"))
        XCTAssertTrue(AccountName.isValid("ops@example.com"))
        XCTAssertTrue(AccountName.isValid(String(repeating: "a", count: 64)))
        XCTAssertFalse(AccountName.isValid(""))
        XCTAssertFalse(AccountName.isValid(String(repeating: "a", count: 65)))
        XCTAssertFalse(AccountName.isValid("a/b"))
        XCTAssertFalse(AccountName.isValid("a b"))
        XCTAssertFalse(AccountName.isValid("é"))
    }

    func testDurations() {
        XCTAssertEqual(DurationText.parse("45s"), 45)
        XCTAssertEqual(DurationText.parse("15m"), 900)
        XCTAssertEqual(DurationText.parse("1h"), 3600)
        XCTAssertEqual(DurationText.parse("7d"), 604_800)
        XCTAssertEqual(DurationText.parse("120"), 120)
        XCTAssertNil(DurationText.parse(""))
        XCTAssertNil(DurationText.parse("h"))
        XCTAssertNil(DurationText.parse("-5s"))
        XCTAssertNil(DurationText.parse("1.5h"))
        XCTAssertNil(DurationText.parse("1w"))
        XCTAssertNil(DurationText.parse("99999999999999d"))
        XCTAssertEqual(DurationText.format(7776000), "90d")
    }
}
