import KeygateConfig
import KeygateCore
import NIOCore

/// One event loop's own copy of the configuration and the credential state.
/// Only code running on `loop` touches it, so verification reads it with no
/// lock and no disk access. The engine pushes every committed change to each
/// replica before the change is acknowledged.
public final class Replica: @unchecked Sendable {
    public let loop: EventLoop
    private(set) var config: KeygateConfiguration
    private(set) var index: CredentialIndex
    var stats = LoopStats()
    /// Last use of each key since the engine last collected it.
    private var usage: [String: (at: Timestamp, ip: String?)] = [:]

    init(loop: EventLoop, config: KeygateConfiguration, index: CredentialIndex) {
        self.loop = loop
        self.config = config
        self.index = index
    }

    func apply(_ changes: [StateChange]) {
        loop.preconditionInEventLoop()
        for c in changes { index.apply(c) }
    }

    func replace(index new: CredentialIndex) {
        loop.preconditionInEventLoop()
        index = new
    }

    func replace(config new: KeygateConfiguration) {
        loop.preconditionInEventLoop()
        config = new
    }

    @inline(__always)
    func verify(secret: UnsafeBufferPointer<UInt8>, ip: IPAddress?, ipText: String?, now: Timestamp) -> Verdict {
        let verdict = Verifier.decide(secret: secret, ip: ip, now: now, index: index, policies: config.policies)
        if case .apiKey(let key, _) = verdict {
            usage[key.id] = (now, ipText)
        }
        return verdict
    }

    func takeUsage() -> [String: (at: Timestamp, ip: String?)] {
        loop.preconditionInEventLoop()
        defer { usage = [:] }
        return usage
    }
}
