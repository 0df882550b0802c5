#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import KeygateConfig
import KeygateCore
import KeygatePostgres
import KeygateStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// keygated as a whole: starts the parts in dependency order (state, engine,
/// sockets, timers), answers signals, and stops them in reverse.
public final class Daemon: @unchecked Sendable {
    let config: KeygateConfiguration
    let logger: Logger
    let clock: Clock
    let environment: [String: String]
    let notifier: SystemdNotifier
    let usageInterval: Int

    private var group: MultiThreadedEventLoopGroup?
    private var engine: Engine?
    private var servers: [(spec: SocketSpec, channel: Channel, owned: Bool)] = []
    /// Open connections per socket (service, admin), each under its own cap.
    private let trackers = [ConnectionTracker(), ConnectionTracker()]
    private var sources: [DispatchSourceProtocol] = []
    private let control = DispatchQueue(label: "keygate.control")
    private let stopped = DispatchSemaphore(value: 0)
    private var stopping = false
    /// Confined to `control`: start-up has finished; a stop signal that came earlier waits here.
    private var ready = false
    private var pendingStop: Int32? = nil
    private var pendingReload = false

    public init(config: KeygateConfiguration, logger: Logger, clock: Clock = .system,
                environment: [String: String], usageInterval: Int = 5) {
        self.config = config
        self.logger = logger
        self.clock = clock
        self.environment = environment
        self.notifier = SystemdNotifier(environment: environment)
        self.usageInterval = usageInterval
    }

    /// Runs until SIGTERM or SIGINT. Throws when start-up fails; then nothing is left running.
    public func run() throws {
        for s in [SIGHUP, SIGTERM, SIGINT, SIGPIPE] { signal(s, SIG_IGN) }
        // Signals are watched from the first moment: a SIGTERM during start-up stops the
        // daemon as soon as it is up rather than being lost.
        installSignals()
        let activated = try ActivatedSockets.fromEnvironment(environment)
        // A second daemon on the same paths stops here, before it opens the database.
        for spec in socketSpecs where activated.byName[spec.name] == nil { try Listener.prepare(spec) }
        let store = try Self.openStore(config, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, min(64, Int(environment["KEYGATE_THREADS"] ?? "") ?? System.coreCount)))
        self.group = group
        var loops: [EventLoop] = []
        var it = group.makeIterator()
        while let l = it.next() { loops.append(l) }
        do {
            let engine = try Engine(config: config, store: store, loops: loops, clock: clock, logger: logger)
            engine.notifier = notifier
            self.engine = engine
            let uid = getuid()
            let limiter = FailureLimiter()
            try listen(socketSpecs[0], responder: APIResponder(socket: .service, engine: engine, clock: clock, daemonUID: uid, limiter: limiter),
                       engine: engine, group: group, activated: activated)
            try listen(socketSpecs[1], responder: APIResponder(socket: .admin, engine: engine, clock: clock, daemonUID: uid, limiter: limiter),
                       engine: engine, group: group, activated: activated)
        } catch {
            for s in servers {
                try? s.channel.close().wait()
                if s.owned { unlink(s.spec.path) }
            }
            try? group.syncShutdownGracefully()
            throw error
        }
        startTimers()
        engine?.startSweeping()
        if let pg = store as? PostgresStore, let engine {
            engine.startFeed()
            listener = pg.listen(onNotify: { engine.catchUp() }, onState: { up in
                if up { engine.catchUp() }
            })
        }
        logger.info("keygated ready", metadata: [
            "service_socket": "\(servers.first { $0.spec.name == "service" }.map { $0.owned ? $0.spec.path : "fd:" + $0.spec.name } ?? "-")",
            "admin_socket": "\(servers.first { $0.spec.name == "admin" }.map { $0.owned ? $0.spec.path : "fd:" + $0.spec.name } ?? "-")",
            "config": "\(config.path)", "pid": "\(getpid())"])
        notifier.send("READY=1\nSTATUS=\(statusLine())\nMAINPID=\(getpid())")
        control.async {
            self.ready = true
            if let sig = self.pendingStop { self.shutdown(signal: sig) } else if self.pendingReload { self.reloadFromSignal() }
        }
        stopped.wait()
    }

    private var listener: Task<Void, Never>?

    /// SQLite on one host, or the PostgreSQL database several hosts share.
    static func openStore(_ config: KeygateConfiguration, logger: Logger) throws -> CredentialStore {
        switch config.storage.backend {
        case .sqlite:
            return try Store(path: config.storagePath)
        case .postgres:
            guard let text = config.storage.url, case .success(let url) = PostgresURL.parse(text) else {
                throw SystemError("storage.url is not a PostgreSQL URL")
            }
            let password = try PostgresStore.password(fromFile: config.storage.passwordFile)
            var name = [CChar](repeating: 0, count: 256)
            gethostname(&name, name.count)
            let host = "\(String(cString: name))-\(getpid())-\(String(decoding: Base62.random(count: 6), as: UTF8.self))"
            do {
                return try PostgresStore(url: url, password: password, hostID: host, logger: logger)
            } catch {
                throw SystemError("\(error)")
            }
        }
    }

    private var socketSpecs: [SocketSpec] {
        let gid = config.listen.groupName.map { _ in config.listen.groupID }
        return [SocketSpec(name: "service", path: config.listen.serviceSocket, mode: config.listen.serviceMode, gid: gid),
                SocketSpec(name: "admin", path: config.listen.adminSocket, mode: config.listen.adminMode, gid: gid)]
    }

    private func listen(_ spec: SocketSpec, responder: Responder, engine: Engine, group: EventLoopGroup, activated: ActivatedSockets) throws {
        let socket = spec.name == "admin" ? 1 : 0
        let bootstrap = Listener.bootstrap(group: group, engine: engine, responder: responder, tracker: trackers[socket], socket: socket,
                                           maxConnections: socket == 1 ? config.listen.maxAdminConnections : config.listen.maxServiceConnections)
        if let fd = activated.byName[spec.name] {
            let ch = try bootstrap.withBoundSocket(fd).wait()
            servers.append((spec, ch, false))
            logger.info("adopted socket from systemd", metadata: ["name": "\(spec.name)", "fd": "\(fd)"])
            return
        }
        try Listener.prepare(spec)
        let ch: Channel
        do {
            ch = try bootstrap.bind(unixDomainSocketPath: spec.path, cleanupExistingSocketFile: false).wait()
        } catch {
            throw SystemError("cannot listen on \(spec.path): \(error)")
        }
        servers.append((spec, ch, true))
        try Listener.applyOwnership(spec)
    }

    private func installSignals() {
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: control)
        hup.setEventHandler { [weak self] in self?.reloadFromSignal() }
        hup.resume()
        for sig in [SIGTERM, SIGINT] {
            let s = DispatchSource.makeSignalSource(signal: sig, queue: control)
            s.setEventHandler { [weak self] in self?.shutdown(signal: sig) }
            s.resume()
            sources.append(s)
        }
        sources.append(hup)
    }

    private func startTimers() {
        guard let engine else { return }
        let usage = DispatchSource.makeTimerSource(queue: control)
        usage.schedule(deadline: .now() + .seconds(usageInterval), repeating: .seconds(usageInterval), leeway: .milliseconds(500))
        usage.setEventHandler { engine.writeUsage() }
        usage.resume()
        sources.append(usage)
        if let w = environment["WATCHDOG_USEC"], let usec = Int(w), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            let dog = DispatchSource.makeTimerSource(queue: control)
            dog.schedule(deadline: .now(), repeating: .microseconds(usec / 2), leeway: .milliseconds(100))
            // Only when every event loop and the writer answer: a stuck daemon gets restarted.
            dog.setEventHandler { [weak self] in
                guard let self, let engine = self.engine else { return }
                engine.ping().whenSuccess { self.notifier.send("WATCHDOG=1") }
            }
            dog.resume()
            sources.append(dog)
        }
    }

    func statusLine() -> String {
        guard let engine else { return "starting" }
        return engine.queue.sync { engine.statusLine() }
    }

    /// SIGHUP: the engine reloads and tells systemd (RELOADING=1, READY=1), as
    /// for every other way of asking. A SIGHUP during start-up waits for it.
    private func reloadFromSignal() {
        guard ready else { pendingReload = true; return }
        guard let engine, let group, !stopping else { return }
        logger.info("SIGHUP: reloading the configuration")
        _ = try? engine.reload(on: group.next()).wait()
    }

    /// Stop accepting, let requests in flight finish, flush state, exit 0.
    private func shutdown(signal sig: Int32) {
        guard ready else { pendingStop = sig; return }
        guard !stopping, let group else { return }
        stopping = true
        logger.info("stopping", metadata: ["signal": "\(sig == SIGTERM ? "SIGTERM" : "SIGINT")"])
        notifier.send("STOPPING=1")
        for s in servers {
            try? s.channel.close().wait()
            if s.owned { unlink(s.spec.path) }
        }
        let open = trackers.flatMap(\.all)
        for c in open {
            c.eventLoop.execute { c.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        }
        let closed = EventLoopFuture.andAllComplete(open.map(\.closeFuture), on: group.next())
        let deadline = group.next().scheduleTask(in: .seconds(10)) {
            for c in open { c.close(promise: nil) }
        }
        try? closed.wait()
        deadline.cancel()
        // Timers first, so that no usage collection starts behind the final one.
        for s in sources { s.cancel() }
        engine?.stopSweeping()
        listener?.cancel()
        engine?.stopFeed()
        try? engine?.flush().wait()
        try? group.syncShutdownGracefully()
        // A collection that was already under way has now handed its records to
        // the writer; wait for the writer to finish with them.
        engine?.finish()
        logger.info("stopped")
        stopped.signal()
    }
}
