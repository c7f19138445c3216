//! [`LiveStats`]: the size of everything the gateway keeps in memory per live call, open
//! connection or in-flight request. Once calls end (their commit done) and connections
//! close, each count goes back to where it started; the stream history alone stays, bounded
//! by `[gateway.stream] history` and `history_bytes`, and the per-source maps (rate-limit
//! buckets, refusal counters, provider adapters' per-call memory) stay bounded by their own
//! caps. Read by tests and `GET /api/debug/live`.

use serde::Serialize;

use crate::gateway::engine::Gateway;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct LiveStats {
    pub orgs: usize,
    pub live_calls: usize,
    pub transcript_entries: usize,
    /// Provider utterance ids remembered for revising partials (live calls only).
    pub utterances: usize,
    /// (integration, provider call id) -> call id, for live calls.
    pub provider_ids: usize,
    pub open_queue_items: usize,
    pub stream_history: usize,
    pub stream_history_bytes: usize,
    /// Live calls whose last published version the stream keeps to send changes as deltas.
    pub stream_versions: usize,
    /// Open stream connections (websocket, SSE, Socket.IO) following the org's events.
    pub stream_subscribers: usize,
    /// Calls with an action in progress.
    pub claims: usize,
    pub idempotency_keys_in_flight: usize,
    /// Stream connections that said which call they show.
    pub presence: usize,
    /// Rate-limit buckets (per token, per integration, per source address).
    pub rate_limit_keys: usize,
    /// Per-token search semaphores and refused-delivery counters.
    pub guard_keys: usize,
    /// Provider adapters' per-call memory (status order, utterance turns, control URLs,
    /// ConversationRelay sessions and hand-offs); capped per adapter, kept after a call ends
    /// so late deliveries are still recognised.
    pub provider_call_memory: usize,
}

impl Gateway {
    /// Counts the live state of every org. Takes each org's lock in turn, briefly.
    pub fn live_stats(&self) -> LiveStats {
        self.live_stats_of(None)
    }

    /// [`Gateway::live_stats`] with the per-org counts of one org only (claims, keys,
    /// presence, limits and provider memory are the gateway's).
    pub fn live_stats_of(&self, only: Option<&str>) -> LiveStats {
        let mut s = LiveStats::default();
        let orgs = match only {
            Some(org) => vec![org.to_string()],
            None => self.org_ids(),
        };
        for org in orgs {
            let handle = self.org(&org);
            let inner = handle.lock();
            s.orgs += 1;
            s.live_calls += inner.state.calls.len();
            for ac in inner.state.calls.values() {
                s.transcript_entries += ac.transcript.len();
                s.utterances += ac.utterances.len();
            }
            s.provider_ids += inner.state.by_provider.len();
            s.open_queue_items += inner.state.queue.len();
            s.stream_history += inner.hub.history_len();
            s.stream_history_bytes += inner.hub.history_bytes();
            s.stream_versions += inner.hub.versions_len();
            s.stream_subscribers += inner.hub.subscriber_count();
        }
        s.claims = self.claims.len();
        s.idempotency_keys_in_flight = self.keys_in_flight.len();
        s.presence = self.presence.len();
        s.rate_limit_keys = self.limiter.len() + self.guard.rate_limit_keys();
        s.guard_keys = self.guard.keys();
        s.provider_call_memory = self.registry.remembered_calls();
        s
    }
}
