import Foundation
import XCTest
@testable import KeygateConfig

/// The YAML loader on mutated versions of a full configuration: every outcome
/// is a configuration or positioned errors, never a crash.
final class ConfigRobustnessTests: XCTestCase {
    func testMutatedConfigurationsGiveConfigOrPositionedErrors() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let base = Array(try Data(contentsOf: fixtures.appendingPathComponent("valid-full.yaml")))
        var state: UInt64 = 42
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let alphabet = Array(" :-[]{},#&*!|>'\"\n\t@/.0123456789abcdefgxyz".utf8)
        var errors = 0
        for _ in 0..<3000 {
            var b = base
            for _ in 0..<(1 + next(5)) {
                let i = next(b.count)
                switch next(3) {
                case 0: b[i] = alphabet[next(alphabet.count)]
                case 1: b.insert(alphabet[next(alphabet.count)], at: i)
                default: b.remove(at: i)
                }
            }
            switch ConfigLoader.parse(bytes: b, path: "fuzz.yaml", resolver: testResolver) {
            case .success: break
            case .failure(let e):
                errors += 1
                XCTAssertFalse(e.diagnostics.isEmpty)
                for d in e.diagnostics {
                    XCTAssertTrue(d.description.hasPrefix("fuzz.yaml:\(d.mark.line):\(d.mark.column): "))
                    XCTAssertGreaterThanOrEqual(d.mark.line, 1)
                }
                XCTAssertEqual(e.diagnostics, e.diagnostics.sorted(), "sorted by position")
            }
        }
        XCTAssertGreaterThan(errors, 500)
    }
}
