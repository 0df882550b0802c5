#if canImport(Glibc)
import Glibc
#endif
import KeygateCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Sockets handed over by systemd socket activation, by FileDescriptorName.
public struct ActivatedSockets: Sendable {
    public var byName: [String: CInt] = [:]

    /// Reads LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES (sd_listen_fds(3)); each
    /// descriptor must be a listening Unix stream socket.
    public static func fromEnvironment(_ env: [String: String]) throws -> ActivatedSockets {
        var out = ActivatedSockets()
        guard let pidText = env["LISTEN_PID"], let pid = Int32(pidText), pid == getpid(),
              let countText = env["LISTEN_FDS"], let count = Int(countText), count > 0 else { return out }
        let names = (env["LISTEN_FDNAMES"] ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        for i in 0..<count {
            let fd = CInt(3 + i)
            let name = i < names.count ? names[i] : "unknown"
            var domain: CInt = 0, type: CInt = 0, listening: CInt = 0
            var len = socklen_t(MemoryLayout<CInt>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 else {
                throw SystemError("socket activation: descriptor \(fd) ('\(name)') is not a socket", errno: errno)
            }
            len = socklen_t(MemoryLayout<CInt>.size)
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)
            len = socklen_t(MemoryLayout<CInt>.size)
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)
            guard domain == AF_UNIX, type == CInt(SOCK_STREAM.rawValue), listening != 0 else {
                throw SystemError("socket activation: descriptor \(fd) ('\(name)') is not a listening Unix stream socket; set ListenStream= to a path in the .socket unit")
            }
            guard name == "service" || name == "admin" else {
                throw SystemError("socket activation: descriptor \(fd) is named '\(name)'; name the sockets 'service' and 'admin' with FileDescriptorName=")
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            out.byName[name] = fd
        }
        return out
    }
}

/// Every open connection, so that shutdown can let each finish its request.
final class ConnectionTracker: @unchecked Sendable {
    private let lock = NIOLock()
    private var channels: [ObjectIdentifier: Channel] = [:]

    var count: Int { lock.withLock { channels.count } }

    func add(_ c: Channel) {
        lock.withLock { channels[ObjectIdentifier(c)] = c }
        c.closeFuture.whenComplete { _ in self.lock.withLock { _ = self.channels.removeValue(forKey: ObjectIdentifier(c)) } }
    }

    var all: [Channel] { lock.withLock { Array(channels.values) } }
}

struct SocketSpec {
    var name: String
    var path: String
    var mode: UInt32
    var gid: UInt32?
}

enum Listener {
    /// Binds a new socket at `spec.path`, refusing when a live daemon already
    /// answers there and removing a stale socket file left by a dead one.
    static func prepare(_ spec: SocketSpec) throws {
        var st = stat()
        if lstat(spec.path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemError("\(spec.path) exists and is not a socket; move it away or change listen.\(spec.name)_socket")
            }
            if probe(spec.path) {
                throw SystemError("another keygated is already answering on \(spec.path); stop it first")
            }
            unlink(spec.path)
        }
        if let slash = spec.path.lastIndex(of: "/"), slash != spec.path.startIndex {
            let dir = String(spec.path[..<slash])
            if stat(dir, &st) != 0 {
                if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                    throw SystemError("cannot create the socket directory \(dir)", errno: errno)
                }
                // Reachable by the peers the socket modes admit, whatever the umask.
                chmod(dir, 0o755)
            }
        }
    }

    /// Whether something accepts connections on the socket at `path`.
    static func probe(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in bytes.enumerated() where i < raw.count - 1 { raw[i] = b } }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }

    static func applyOwnership(_ spec: SocketSpec) throws {
        if chmod(spec.path, mode_t(spec.mode)) != 0 {
            throw SystemError("cannot set mode \(String(spec.mode, radix: 8)) on \(spec.path)", errno: errno)
        }
        if let gid = spec.gid, chown(spec.path, uid_t.max, gid) != 0 {
            throw SystemError("cannot give \(spec.path) to group \(gid)", errno: errno)
        }
    }

    static func bootstrap(group: EventLoopGroup, engine: Engine, responder: Responder, tracker: ConnectionTracker, socket: Int,
                          maxConnections: Int) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                // Past the cap a new connection is closed at once, before any work is done for it.
                if tracker.count >= maxConnections { return channel.close() }
                tracker.add(channel)
                return peerCredentials(channel).flatMapThrowing { peer in
                    let sync = channel.pipeline.syncOperations
                    let ctx = ResponderContext(loop: channel.eventLoop, allocator: channel.allocator,
                                               replica: engine.replica(for: channel.eventLoop), peer: peer, socket: socket)
                    // A peer the socket refuses gets its 403 at once and is closed.
                    try sync.addHandler(HTTPConnection(responder: responder, context: ctx, refusal: responder.refusal(ctx)))
                }
            }
    }

    /// A connection that sends nothing for this long is closed.
    static let idleTimeout = TimeAmount.minutes(5)

    static func peerCredentials(_ channel: Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(SystemError("connection without socket options"))
        }
        let f: EventLoopFuture<PeerCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return f.map { PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid) }
    }
}

/// struct ucred from <sys/socket.h> (pid_t, uid_t, gid_t), which Glibc's Swift
/// module does not export without _GNU_SOURCE.
struct PeerCred: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
