import KeygateConfig
import KeygateCore
import KeygateStore
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
    /// The change feed is older than storage.max_staleness: verifications are refused.
    var stale = false
    /// Last use of each key since this loop last handed it to the engine.
    private var usage: [String: KeyUse] = [:]
    private var pushScheduled = false
    /// The last use handed to the engine per key, so repeats are not handed over again.
    private var lastHandedOver: [String: KeyUse] = [:]
    static let maxRemembered = 100_000
    /// Where the last-use records go, once per turn of the loop (set by the engine).
    var usageSink: (([String: KeyUse]) -> Void)?

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
            // Timestamps are whole seconds: the same key from the same address
            // within a second changes nothing the writer needs to hear about.
            let use = KeyUse(keyID: key.id, at: now, ip: ipText)
            if lastHandedOver[key.id] == use { return verdict }
            if lastHandedOver.count >= Self.maxRemembered { lastHandedOver.removeAll(keepingCapacity: true) }
            lastHandedOver[key.id] = use
            usage[key.id] = use
            if !pushScheduled {
                // One hand-over per turn of the loop, however many verifications it answered.
                pushScheduled = true
                loop.execute { self.pushUsage() }
            }
        }
        return verdict
    }

    /// Hands what this loop recorded to the engine.
    func pushUsage() {
        loop.preconditionInEventLoop()
        pushScheduled = false
        guard !usage.isEmpty else { return }
        let batch = usage
        usage = [:]
        usageSink?(batch)
    }
}
