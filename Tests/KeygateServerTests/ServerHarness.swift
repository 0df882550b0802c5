import Foundation
import KeygateAPI
import KeygateConfig
import KeygateCore
import KeygateStore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
@testable import KeygateServer

/// The engine and both responders on one real event loop, over a store of the
/// test's choosing: the route table, permissions and handlers without sockets.
final class InProcessDaemon {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let engine: Engine
    let store: CredentialStore
    let service: APIResponder
    let admin: APIResponder
    var loop: EventLoop { group.next() }

    static let admin = UInt32(5000), manager = UInt32(5001), verifier = UInt32(5002), stranger = UInt32(5003)
    static let daemonUID = UInt32(4242)

    init(store: CredentialStore = MemoryStore(), yaml: String = InProcessDaemon.accessYAML) throws {
        let config = try ConfigLoader.parse(bytes: Array(yaml.utf8), path: "/test/keygate.yaml").get()
        self.store = store
        engine = try Engine(config: config, store: store, loops: [group.next()], clock: .system, logger: Logger(label: "test"))
        let limiter = FailureLimiter()
        service = APIResponder(socket: .service, engine: engine, clock: .system, daemonUID: Self.daemonUID, limiter: limiter)
        admin = APIResponder(socket: .admin, engine: engine, clock: .system, daemonUID: Self.daemonUID, limiter: limiter)
    }

    static let accessYAML = """
        access:
          admin: ["user:5000"]
          manage: ["user:5001"]
          verify: ["user:5000", "user:5001", "user:5002"]
        """

    deinit { try? group.syncShutdownGracefully() }

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: JSON? { try? JSON.parse(Array(body.utf8)) }
    }

    func send(_ socket: APISocket, _ method: String, _ uri: String, body: String = "", headers: [(String, String)] = [], uid: UInt32) throws -> Answer {
        let responder = socket == .service ? service : admin
        let loop = self.loop
        let replica = engine.replica(for: loop)
        let reply = try loop.submit { () -> Reply in
            var buf = ByteBufferAllocator().buffer(capacity: body.utf8.count)
            buf.writeString(body)
            let ctx = ResponderContext(loop: loop, allocator: ByteBufferAllocator(), replica: replica,
                                       peer: PeerCredentials(pid: 1, uid: uid, gid: uid), socket: socket == .service ? 0 : 1)
            return responder.respond(to: Request(method: method, uri: uri, headers: headers, body: buf, peer: ctx.peer), context: ctx)
        }.wait()
        let response: Response
        switch reply {
        case .now(let r): response = r
        case .later(let f):
            do { response = try f.wait() } catch { response = .error(APIError(any: error), allocator: ByteBufferAllocator()) }
        }
        return Answer(status: Int(response.status.code), headers: response.headers,
                      body: response.body.map { String(buffer: $0) } ?? "")
    }
}
