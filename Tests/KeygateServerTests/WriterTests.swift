import Dispatch
import XCTest
import KeygateAPI
import KeygateCore
import KeygateStore
import NIOCore
@testable import KeygateServer

/// The single writer against an in-memory store and one that fails.
final class WriterTests: XCTestCase {
    func testConcurrentMutationsShareOneCommit() throws {
        let store = MemoryStore()
        let d = try InProcessDaemon(store: store, yaml: "policies:\n  default:\n    max_keys: 100\n")
        let gate = DispatchSemaphore(value: 0)
        d.engine.queue.async { gate.wait() }  // hold the writer while 40 requests queue up
        let futures = (0..<40).map { i in d.engine.submit(.createKey(account: "acme", NewKey(name: "k\(i)")), on: d.loop) }
        gate.signal()
        for f in futures { _ = try f.wait() }
        XCTAssertEqual(store.commits, 1, "40 queued creations are one transaction")
        XCTAssertEqual(store.index.keyCount, 40)
        let listed = try d.engine.keys(account: "acme", on: d.loop).wait()
        XCTAssertEqual(listed.map(\.name), (0..<40).map { "k\($0)" }, "creation order")
    }

    /// One client asking for 100 tokens at once does not hold back another's:
    /// the other's token is in the first commit, the flood's spread over many.
    func testOneClientCannotTakeTheWholeWriteBudget() throws {
        let store = MemoryStore()
        let d = try InProcessDaemon(store: store, yaml: "tokens:\n  max_live_per_client: 1000\n")
        let greedy = try d.engine.submit(.generateClient(account: "greedy", allowIPs: .any, grace: nil), on: d.loop).wait()
        let polite = try d.engine.submit(.generateClient(account: "polite", allowIPs: .any, grace: nil), on: d.loop).wait()
        guard case .client(let g, _, _) = greedy, case .client(let p, _, _) = polite else { return XCTFail("\(greedy) \(polite)") }
        let before = store.commits
        let gate = DispatchSemaphore(value: 0)
        d.engine.queue.async { gate.wait() }
        let flood = (0..<100).map { _ in d.engine.submit(.issueToken(clientID: g.clientID, scope: nil), on: d.loop) }
        let mine = d.engine.submit(.issueToken(clientID: p.clientID, scope: nil), on: d.loop)
        // Completion order, recorded on the event loop (one thread).
        var order: [Int] = []
        for (i, f) in (flood + [mine]).enumerated() { f.whenComplete { _ in order.append(i) } }
        gate.signal()
        _ = try mine.wait()
        for f in flood { _ = try f.wait() }
        let position = try d.loop.submit { order.firstIndex(of: 100) }.wait()
        XCTAssertNotNil(position)
        XCTAssertLessThanOrEqual(position ?? 999, Engine.tokensPerClientPerBatch,
                                 "the other client's token was answered with the first commit, not after the flood")
        XCTAssertEqual(store.commits - before, 100 / Engine.tokensPerClientPerBatch + (100 % Engine.tokensPerClientPerBatch == 0 ? 0 : 1),
                       "the flood was spread over commits of at most \(Engine.tokensPerClientPerBatch)")
    }

    func testRefusedOperationsInABatchDoNotSpoilTheOthers() throws {
        let store = MemoryStore()
        let d = try InProcessDaemon(store: store, yaml: "policies:\n  default:\n    max_keys: 2\n")
        let gate = DispatchSemaphore(value: 0)
        d.engine.queue.async { gate.wait() }
        let futures = (0..<4).map { i in d.engine.submit(.createKey(account: "acme", NewKey(name: "k\(i)")), on: d.loop) }
        gate.signal()
        var refused: [KeygateError] = []
        for f in futures {
            do { _ = try f.wait() } catch let e as KeygateError { refused.append(e) }
        }
        XCTAssertEqual(store.index.keyCount, 2)
        XCTAssertEqual(refused.count, 2)
        guard case .keyRule(.limitReached(_, _, let limit, _)) = refused[0] else { return XCTFail("\(refused)") }
        XCTAssertEqual(limit, 2)
    }

    func testAFailingStoreChangesNothingAndRecovers() throws {
        let store = MemoryStore()
        let d = try InProcessDaemon(store: store)
        _ = try d.engine.submit(.createKey(account: "acme", NewKey(name: "kept")), on: d.loop).wait()
        store.failing = true
        XCTAssertThrowsError(try d.engine.submit(.createKey(account: "acme", NewKey(name: "lost")), on: d.loop).wait()) { e in
            XCTAssertEqual(e as? KeygateError, .storageUnavailable("the state database could not be written; nothing was changed"))
            let api = APIError(any: e)
            XCTAssertEqual(api.status, 503)
            XCTAssertEqual(api.code, "storage_unavailable")
        }
        XCTAssertEqual(try d.engine.keys(account: "acme", on: d.loop).wait().map(\.name), ["kept"], "the writer's state is the store's")
        let replicaNames = try d.loop.submit { d.engine.replica(for: d.loop).index.keys(account: "acme").map(\.name) }.wait()
        XCTAssertEqual(replicaNames, ["kept"], "no event loop holds what the store refused")
        // Through the API: a 503 that names no SQL, table or path.
        let a = try d.send(.admin, "POST", "/v1/accounts/acme/keys", body: #"{"name":"x"}"#, uid: InProcessDaemon.admin)
        XCTAssertEqual(a.status, 503)
        XCTAssertEqual(a.json?["error"], "storage_unavailable")
        store.failing = false
        XCTAssertNoThrow(try d.engine.submit(.createKey(account: "acme", NewKey(name: "later")), on: d.loop).wait())
        XCTAssertEqual(store.index.keyCount, 2)
    }

    /// Last use reaches the writer's state from the replica once per loop turn:
    /// a listing right after a verification shows it, and nothing was written.
    func testListingShowsLastUseWithoutWriting() throws {
        let store = MemoryStore()
        let d = try InProcessDaemon(store: store)
        guard case .key(_, let secret?) = try d.engine.submit(.createKey(account: "acme", NewKey(name: "k")), on: d.loop).wait() else { return XCTFail() }
        let commits = store.commits
        let v = try d.send(.service, "POST", "/v1/verify", body: #"{"key":"\#(secret)","ip":"192.0.2.4"}"#, uid: InProcessDaemon.verifier)
        XCTAssertEqual(v.json?["valid"], true)
        let list = try d.send(.admin, "GET", "/v1/accounts/acme/keys", uid: InProcessDaemon.manager)
        XCTAssertEqual(list.json?["keys"]?.arrayValue?.first?["last_used_ip"], "192.0.2.4")
        XCTAssertEqual(store.commits, commits, "listing wrote nothing")
    }
}
