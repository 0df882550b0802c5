import XCTest
import KeygateAPI
import KeygateCore
import NIOCore
@testable import KeygateServer

/// The verify answer is written straight into a buffer on the hot path; these
/// bytes must be exactly the wire type's encoding.
final class VerdictBytesTests: XCTestCase {
    func bytes(_ v: Verdict) -> String {
        var buf = ByteBufferAllocator().buffer(capacity: 64)
        VerdictWriter.write(v, into: &buf)
        return String(buffer: buf)
    }

    func testEveryVerdictMatchesTheWireType() {
        let policy = Policy(name: "partners")
        let key = APIKey(id: "key_4fT9aQ2mZ8bW1cXe", account: "a@b", name: #"CRM "sync" \ ünï"#, digest: SecretDigest(of: [1]), hint: "kg_12345",
                         allowIPs: .any, createdAt: 0, expiresAt: nil)
        XCTAssertEqual(bytes(.apiKey(key, policy: policy)),
                       VerifyResponse.apiKey(account: "a@b", keyID: key.id, name: key.name, policy: "partners").json.text)
        for scope in [nil, "read write"] as [String?] {
            let t = AccessToken(digest: SecretDigest(of: [2]), clientID: "kgc_" + String(repeating: "z", count: 24), account: "acme",
                                scope: scope, issuedAt: 0, expiresAt: 100)
            XCTAssertEqual(bytes(.accessToken(t, policy: policy, expiresIn: 99)),
                           VerifyResponse.accessToken(account: "acme", clientID: t.clientID, scope: scope, expiresIn: 99).json.text)
        }
        for code in [RefusalCode.malformed, .unknown, .expired, .revoked, .ipNotAllowed, .rateLimited] {
            XCTAssertEqual(bytes(.refused(code)), VerifyResponse.refused(code: code.rawValue).json.text)
            XCTAssertTrue(VerifyResponse.refusalCodes.contains(code.rawValue), "\(code) is documented")
        }
    }
}
