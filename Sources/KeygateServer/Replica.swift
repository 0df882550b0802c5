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
    /// Usage counters (SPEC 12) since this loop last handed them to the engine,
    /// by the credential's digest and day: the verification path only adds one.
    private var tallies: [TallyKey: Tally] = [:]
    /// Where the last-use records and counters go (set by the engine): last
    /// use once per turn of the loop when it changed, counters every second.
    var usageSink: (([String: KeyUse], UsageCounts) -> Void)?
    static let tallyInterval: TimeAmount = .seconds(1)
    private var tallyTask: RepeatedTask?

    init(loop: EventLoop, config: KeygateConfiguration, index: CredentialIndex) {
        self.loop = loop
        self.config = config
        self.index = index
    }

    /// Hands the counters over every `tallyInterval`; runs until the loop stops.
    func startTallying() {
        tallyTask = loop.scheduleRepeatedTask(initialDelay: Self.tallyInterval, delay: Self.tallyInterval) { [weak self] _ in
            self?.pushTallies()
        }
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
    /// loop's memory only, one dictionary update. A refusal is charged to the
    /// credential it names when this host knows it (EXPIRED, REVOKED,
    /// IP_NOT_ALLOWED, RATE_LIMITED); MALFORMED and UNKNOWN name none.
    @inline(__always)
    func count(_ answered: Verdict, secret: UnsafeBufferPointer<UInt8>, now: Timestamp) {
        let day = UsageWindow.day(of: now)
        switch answered {
        case .apiKey(let key, _):
            tallies[TallyKey(digest: key.digest, day: day), default: Tally(subject: .key(key.id))].add(.valid)
        case .accessToken(let token, _, _):
            tallies[TallyKey(digest: token.digest, day: day), default: Tally(subject: .client(token.clientID))].add(.valid)
        case .refused(let code):
            // Only a well-formed secret can name a credential: junk is not hashed again.
            guard let r = UsageResult(code), SecretFormat.classify(secret) != nil else { return }
            let digest = SecretDigest(of: secret)
            if let (key, _) = index.keyMatching(digest) {
                tallies[TallyKey(digest: key.digest, day: day), default: Tally(subject: .key(key.id))].add(r)
            } else if let t = index.tokensByDigest[digest], t.digest.constantTimeEquals(digest) {
                tallies[TallyKey(digest: t.digest, day: day), default: Tally(subject: .client(t.clientID))].add(r)
            }
        }
    }

    /// The counters as the engine takes them, by subject; this loop's start afresh.
    func pushTallies() {
        loop.preconditionInEventLoop()
        guard !tallies.isEmpty else { return }
        var out = UsageCounts()
        for (k, t) in tallies {
            for r in UsageResult.allCases where t.counts[Int(r.rawValue)] > 0 {
                out[UsageCell(subject: t.subject, day: k.day, result: r), default: 0] += t.counts[Int(r.rawValue)]
            }
        }
        tallies.removeAll(keepingCapacity: true)
        usageSink?([:], out)
    }

    /// Hands what this loop recorded to the engine.
    func pushUsage() {
        loop.preconditionInEventLoop()
        pushScheduled = false
        guard !usage.isEmpty else { return }
        let batch = usage
        usage = [:]
        usageSink?(batch, [:])
    }
}

/// A tally's key: the credential's digest and the day. Digests are SHA-256
/// outputs, so one of their words is as good a hash as all four, and cheaper.
struct TallyKey: Hashable {
    let digest: SecretDigest
    let day: Int32

    @inline(__always)
    func hash(into h: inout Hasher) { h.combine(digest.w0 ^ UInt64(UInt32(bitPattern: day))) }
}

/// Counts by `UsageResult` of one credential on one day.
struct Tally {
    let subject: UsageSubject
    var counts: [Int64] = [Int64](repeating: 0, count: UsageResult.allCases.count)

    init(subject: UsageSubject) { self.subject = subject }

    @inline(__always)
    mutating func add(_ r: UsageResult) { counts[Int(r.rawValue)] &+= 1 }
}
