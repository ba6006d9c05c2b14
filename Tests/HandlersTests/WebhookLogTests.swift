@testable import Handlers
import Runs
import Outbound
import Testing

/// What `GET .../runs/{run_id}/webhooks` may say about a failed attempt: a reason from a fixed set, never the text of
/// a connection error (which names addresses and tells a closed port from a filtered one).
@Suite struct WebhookLogTests {
    @Test func onlyGenericReasonsAreShown() {
        for reason in OutboundError.reasons.union(WebhookDispatcher.reasons) {
            #expect(DeliveryWire.shown(reason) == reason)
        }
        // As attempts were stored before the outbound policy: raw texts become "failed".
        for raw in ["refused: 10.0.0.7 resolves to an internal address (10.0.0.7)",
                    "connect(descriptor:addr:size:): Connection refused (errno: 111)", "HTTPClientError.connectTimeout"] {
            #expect(DeliveryWire.shown(raw) == "failed")
        }
        #expect(OutboundError.reasons.count == 8)
    }
}
