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
    /// Usage counters (SPEC 12) since this loop last handed them to the engine.
    private var counts: UsageCounts = [:]
    /// Where the last-use records and counters go, once per turn of the loop (set by the engine).
    var usageSink: (([String: KeyUse], UsageCounts) -> Void)?

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
            schedulePush()
        }
        return verdict
    }

    @inline(__always)
    private func schedulePush() {
        if !pushScheduled {
            // One hand-over per turn of the loop, however many verifications it answered.
            pushScheduled = true
            loop.execute { self.pushUsage() }
        }
    }

    /// Counts an answered verification for the key or pair it names: in this
    /// loop's memory only. A refusal is charged to the credential it names
    /// when this host knows it (EXPIRED, REVOKED, IP_NOT_ALLOWED, RATE_LIMITED);
    /// MALFORMED and UNKNOWN name none.
    @inline(__always)
    func count(_ answered: Verdict, secret: UnsafeBufferPointer<UInt8>, now: Timestamp) {
        let subject: UsageSubject
        let result: UsageResult
        switch answered {
        case .apiKey(let key, _):
            subject = .key(key.id); result = .valid
        case .accessToken(let token, _, _):
            subject = .client(token.clientID); result = .valid
        case .refused(let code):
            guard let r = UsageResult(code) else { return }
            let digest = SecretDigest(of: secret)
            if let (key, _) = index.keyMatching(digest) {
                subject = .key(key.id)
            } else if let t = index.tokensByDigest[digest], t.digest.constantTimeEquals(digest) {
                subject = .client(t.clientID)
            } else {
                return
            }
            result = r
        }
        counts[UsageCell(subject: subject, day: UsageWindow.day(of: now), result: result), default: 0] += 1
        schedulePush()
    }

    /// Hands what this loop recorded to the engine.
    func pushUsage() {
        loop.preconditionInEventLoop()
        pushScheduled = false
        guard !usage.isEmpty || !counts.isEmpty else { return }
        let batch = usage, tally = counts
        usage = [:]
        counts = [:]
        usageSink?(batch, tally)
    }
}
