import Foundation
import XCTest
import KeygateCore
@testable import KeygateAPI

/// Random and mutated input for every parser that faces the outside: each must
/// answer with a value or an error, never crash or hang. Seeded, so a failure
/// reproduces.
final class RobustnessTests: XCTestCase {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds: [[UInt8]] = [
        Array(#"{"key":"kg_Xy","ip":"203.0.113.7"}"#.utf8),
        Array(#"{"name":"CRM sync","allow_ips":["10.0.0.0/8","2001:db8::/32"],"expires_in":"90d"}"#.utf8),
        Array(#"[1,-2.5e10,true,null,{"a":[{}]},"\u00e9\ud83d\ude00"]"#.utf8),
        Array("grant_type=client_credentials&client_id=kgc_a%2B&client_secret=x+y".utf8),
    ]

    func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let op = Int.random(in: 0..<4, using: &rng)
            let i = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &rng)
            switch op {
            case 0 where !b.isEmpty: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: b.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            case 2 where !b.isEmpty: b.remove(at: i)
            default: b.insert(contentsOf: b.prefix(8), at: i)
            }
        }
        return b
    }

    func testParsersSurviveMutatedInput() {
        var rng = SplitMix(state: 20261129)
        var accepted = 0, refused = 0
        for n in 0..<40_000 {
            let input = mutate(Self.seeds[n % Self.seeds.count], &rng)
            if (try? JSON.parse(input)) != nil { accepted += 1 } else { refused += 1 }
            _ = try? FormURLEncoded.parse(input)
            _ = SecretFormat.classify(input)
            _ = IPAddress(String(decoding: input.prefix(50), as: UTF8.self))
            _ = IPNetwork.parse(String(decoding: input.prefix(60), as: UTF8.self))
            _ = DurationText.parse(String(decoding: input.prefix(20), as: UTF8.self))
            if let j = try? JSON.parse(input) {
                _ = try? CreateKeyRequest(json: j)
                _ = try? UpdateKeyRequest(json: j)
                XCTAssertEqual(try? JSON.parse(j.serialized()), j, "what we write, we read back")
            }
        }
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertGreaterThan(refused, 10_000)
    }

    func testDeepAndHugeInputsAreBounded() {
        XCTAssertThrowsError(try JSON.parse(Array(repeating: UInt8(ascii: "["), count: 100_000)))
        XCTAssertThrowsError(try JSON.parse(Array(repeating: UInt8(ascii: "{"), count: 100_000)))
        let long = Array("\"".utf8) + Array(repeating: UInt8(ascii: "a"), count: 1_000_000) + Array("\"".utf8)
        XCTAssertEqual(try JSON.parse(long).stringValue?.count, 1_000_000)
    }
}
