import AgentRuntime
import Crypto
import Foundation
import Logging
import Telemetry
import Tracing
import Outbound
import Store

/// Signs deliveries as Standard Webhooks and OpenAI do: `webhook-signature: v1,<base64 HMAC-SHA256 of
/// "id.timestamp.body">`, keyed by the base64 part of a `whsec_` secret; one signature per secret while rotating.
public struct WebhookSigner: Sendable {
    /// Raw key bytes: `SymmetricKey` is not Sendable in this swift-crypto.
    let keys: [Data]

    public enum SecretError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self { case .invalid(let reason): reason }
        }
    }

    /// `secrets`: space-separated `whsec_<base64>` values; all sign, so receivers holding any of them verify.
    public init(secrets: String) throws {
        var keys: [Data] = []
        for secret in secrets.split(whereSeparator: \.isWhitespace) {
            guard secret.hasPrefix("whsec_"), let bytes = Data(base64Encoded: String(secret.dropFirst(6))), bytes.count >= 16 else {
                throw SecretError.invalid("a webhook secret must be whsec_ followed by base64 of at least 16 bytes")
            }
            keys.append(bytes)
        }
        guard !keys.isEmpty else { throw SecretError.invalid("no webhook secret given") }
        self.keys = keys
    }

    public func signature(id: String, timestamp: Int, body: [UInt8]) -> String {
        let message = Array("\(id).\(timestamp).".utf8) + body
        return keys.map { key in
            "v1," + Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))).base64EncodedString()
        }.joined(separator: " ")
    }

    /// A new random secret, as `agentfcgi webhook-secret` prints it.
    public static func newSecret() -> String {
        "whsec_" + SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }
}

/// Where webhooks may go. A per-run `webhook` may name any host with only public addresses, or, when
/// `webhooks.allow_hosts` is set, only those hosts (which may then be internal). A configured endpoint's host is the
/// operator's choice and may be internal. Redirects are never followed. Judged without DNS when a run is created
/// (a clear 422), and again at every delivery by `Outbound`, which resolves once and connects to what it checked.
public struct WebhookPolicy: Sendable {
    let settings: WebhookSettings

    public init(settings: WebhookSettings) { self.settings = settings }

    /// At creation, without DNS (`Outbound.precheck`, the rule delivery applies too): the caller named the host, so
    /// the 422 may say why.
    public func check(_ text: String) throws -> URL {
        guard text.utf8.count <= 2048, let url = URL(string: text) else {
            throw RunProblem.invalid(field: "webhook", "must be an http or https URL")
        }
        do {
            try Outbound.precheck(text, policy: delivery(to: text))
        } catch let error as OutboundError {
            let host = url.host?.prefix(100) ?? ""
            switch error.kind {
            case .hostNotAllowed: throw RunProblem.invalid(field: "webhook", "host '\(host)' is not in webhooks.allow_hosts")
            case .internalAddress:
                throw RunProblem.invalid(field: "webhook", "'\(host)' is an internal address; list it in webhooks.allow_hosts to allow it")
            default: throw RunProblem.invalid(field: "webhook", "must be an http or https URL without credentials")
            }
        }
        return url
    }

    /// The policy for one delivery's URL.
    func delivery(to url: String) -> OutboundPolicy {
        let configured = settings.endpoints.contains { $0.url == url }
        let hosts = configured ? [URL(string: url)?.host ?? ""] : settings.allowHosts
        return OutboundPolicy(onlyHosts: hosts, internalAllowed: hosts, redirects: .notFollowed,
                              maxResponseBytes: 64 << 10, timeout: settings.timeout)
    }
}

struct WebhookRefused: Error { var reason: String }

/// The deliveries a run's end owes: its own `webhook` and the configured endpoints that take the event's type.
/// The body is the dialect's (`RunFormats.webhookPayload`); ids and types are Standard Webhooks'.
public enum WebhookEvent {
    /// A run's end as a `run.*` event.
    public static func type(for status: RunStatus) -> String {
        switch status {
        case .success: "run.completed"
        case .interrupted: "run.cancelled"
        default: "run.failed"
        }
    }

    /// A run paused for approval is `run.interrupted`; one cancelled, `run.cancelled`.
    public static func type(for run: RunRecord) -> String {
        run.status == .interrupted && RunResultNote.approval(of: run) != nil ? "run.interrupted" : type(for: run.status)
    }

    static func deliveries(for run: RunRecord, settings: WebhookSettings, formats: RunFormats, makeID: () -> String) -> [NewDelivery] {
        let type = formats.webhookType(run)
        var targets: [String] = run.webhook.map { [$0] } ?? []
        targets += settings.endpoints.filter { $0.events.contains(type) }.map(\.url)
        guard !targets.isEmpty else { return [] }
        let payload = formats.webhookPayload(run, "evt_" + makeID().replacingOccurrences(of: "-", with: ""), type)
        return targets.map { url in
            NewDelivery(id: "msg_" + makeID().replacingOccurrences(of: "-", with: ""), runID: run.id, threadID: run.threadID,
                        url: url, eventType: type, payload: payload)
        }
    }
}

/// Sends due deliveries, at least once: exponential backoff with jitter, a bounded number of attempts, the same
/// `webhook-id` every time, each attempt logged in the store. One per worker process; the store leases each
/// delivery to one dispatcher at a time.
public final class WebhookDispatcher: Sendable {
    let store: any AgentStore
    let settings: WebhookSettings
    let signer: WebhookSigner?
    let outbound: Outbound
    let workerID: String
    let logger: Logger
    let policy: WebhookPolicy
    /// Rung when deliveries may be due (a run of this process ended): looked for at once.
    let due: Bell
    let watchdog: Watchdog

    /// `due`: the engine's `deliveryBell`.
    public init(store: any AgentStore, settings: WebhookSettings, signer: WebhookSigner?, outbound: Outbound,
                workerID: String, logger: Logger, due: Bell = Bell(), watchdog: Watchdog = Watchdog()) {
        self.store = store
        self.settings = settings
        self.signer = signer
        self.outbound = outbound
        self.workerID = workerID
        self.logger = logger
        self.policy = WebhookPolicy(settings: settings)
        self.due = due
        self.watchdog = watchdog
    }

    /// Looks for due deliveries every 200 ms while it finds some; finding none, it sleeps until the store's next
    /// due delivery (a retry, or the end of a dead dispatcher's lease on one), or `idlePoll` when none is pending. A run
    /// ending here wakes it at once.
    public func run() async {
        while !Task.isCancelled {
            let generation = due.generation
            var wait = Self.busyPoll
            if await !deliverDue() {
                wait = Self.idlePoll
                if let next = try? await store.nextDeliveryDue() {
                    wait = min(wait, max(.milliseconds(5), .milliseconds(Int64(next.timeIntervalSinceNow * 1000) + 2)))
                }
            }
            await due.wait(since: generation, timeout: wait, watchdog: watchdog)
        }
    }

    static let busyPoll = Duration.milliseconds(200)
    /// How late a delivery another worker made and could not send (it died at once) may be sent, at most, when
    /// nothing else is happening.
    static let idlePoll = Duration.seconds(60)

    /// True if some were due (and attempted).
    @discardableResult
    func deliverDue() async -> Bool {
        let lease = Date() + settings.timeout.seconds + 30
        guard let due = try? await store.claimDueDeliveries(worker: workerID, now: Date(), leaseUntil: lease, limit: 16),
              !due.isEmpty else { return false }
        await withTaskGroup(of: Void.self) { group in
            for delivery in due {
                group.addTask {
                    // Each attempt continues the trace of the request that made its run.
                    let stored = Traces.enabled ? await self.traceParent(run: delivery.runID) : nil
                    guard let parent = Traces.parent(continuing: stored, root: false) else { return await self.attempt(delivery) }
                    await Traces.span("webhook \(delivery.eventType)", kind: .client, under: parent) { span in
                        span.attributes["agentfcgi.webhook.id"] = delivery.id
                        span.attributes["agentfcgi.run.id"] = delivery.runID
                        await self.attempt(delivery)
                    }
                }
            }
        }
        return true
    }

    func traceParent(run id: String) async -> String? {
        guard let job = try? await store.run(id)?.job else { return nil }
        return try? RunJob.decode(job).traceParent
    }

    public static let noSecret = "refused: no signing secret configured (webhooks.secret_env)"
    static let redirectRefused = "refused: redirects are not followed"
    /// The dispatcher's own reasons, beside `OutboundError.reasons`.
    public static let reasons: Set<String> = [noSecret, redirectRefused, "failed"]

    func attempt(_ delivery: DeliveryRecord) async {
        let number = delivery.attempts + 1
        let started = ContinuousClock.now
        var statusCode: Int?
        var failure: String?
        var permanent = false
        do {
            guard let signer else { throw WebhookRefused(reason: Self.noSecret) }
            let timestamp = Int(Date().timeIntervalSince1970)
            let request = Outbound.Request(method: .POST, url: delivery.url, headers: [
                ("Content-Type", "application/json"), ("User-Agent", "agentfcgi/\(agentfcgiVersion)"),
                ("webhook-id", delivery.id), ("webhook-timestamp", "\(timestamp)"),
                ("webhook-signature", signer.signature(id: delivery.id, timestamp: timestamp, body: delivery.payload)),
            ], body: delivery.payload)
            let response = try await outbound.send(request, policy: policy.delivery(to: delivery.url), metadata: [
                "webhook.id": .string(delivery.id), "run.id": .string(delivery.runID), "attempt": "\(number)",
            ])
            statusCode = response.status
            // 410 Gone: the receiver asks us to stop, as Standard Webhooks suggests.
            permanent = statusCode == 410
            if (300..<400).contains(response.status) { failure = Self.redirectRefused }
        } catch let refused as WebhookRefused {
            failure = refused.reason
            permanent = true
        } catch let error as OutboundError {
            // The delivery log (an API answer) gets the generic reason; Outbound logged the detail.
            failure = error.reason
            permanent = error.isRefusal
        } catch {
            failure = "failed"
            logger.warning("webhook.error", metadata: ["webhook.id": .string(delivery.id), "error": "\(error)"])
        }
        let delivered = statusCode.map { (200..<300).contains($0) } ?? false
        var next: Date?
        if !delivered, !permanent, number < settings.maxAttempts {
            // Exponential, capped at an hour, with jitter so that many failed deliveries do not retry in step.
            let base = min(settings.retryBase.seconds * pow(2, Double(number - 1)), 3600)
            next = Date() + base * Double.random(in: 0.75...1.25)
        }
        let record = DeliveryAttempt(attempt: number, at: Date(), statusCode: statusCode, error: failure,
                                     durationMilliseconds: Int((ContinuousClock.now - started).wholeMilliseconds))
        do {
            try await store.recordDeliveryAttempt(delivery.id, worker: workerID, record, delivered: delivered, next: next)
        } catch {
            logger.warning("webhook.record_failed", metadata: ["webhook.id": .string(delivery.id), "error": "\(error)"])
        }
        let metadata: Logger.Metadata = [
            "webhook.id": .string(delivery.id), "run.id": .string(delivery.runID), "attempt": "\(number)",
            "status": "\(statusCode.map(String.init) ?? "-")", "error": .string(failure ?? ""),
        ]
        Metrics.webhookDelivery(outcome: delivered ? "delivered" : next != nil ? "retry" : "failed")
        if delivered { logger.info("webhook.delivered", metadata: metadata) }
        else if next != nil { logger.info("webhook.retrying", metadata: metadata) }
        else { logger.warning("webhook.failed", metadata: metadata) }
    }
}

