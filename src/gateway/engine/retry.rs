//! What a finished or failed attempt means for its queue item: done, failed, or tried
//! again after the backoff (policy in config `[gateway.queue]`, see docs/PROTOCOL.md).
//! Pure, shared by ingest planning, actions and the scheduler's failed dials.

use chrono::{DateTime, Duration, Utc};

use crate::core::model::{outcome, Call, QueueItem, QueueState};
use crate::gateway::config::QueuePolicy;
use crate::gateway::engine::memory::OrgState;
use crate::gateway::store::Batch;

/// After a call from the queue ended: done, retried later, or failed (see `QueuePolicy`
/// and docs/PROTOCOL.md).
pub fn queue_after_end(
    st: &OrgState,
    call: &Call,
    batch: &mut Batch,
    policy: &QueuePolicy,
    now: DateTime<Utc>,
) {
    let Some(qid) = &call.queue_item_id else {
        return;
    };
    let Some(item) = st.queue.get(qid) else {
        return;
    };
    let mut item = item.clone();
    let result = call
        .outcome
        .clone()
        .unwrap_or_else(|| outcome::COMPLETED.into());
    item.call_id = Some(call.id.clone());
    if outcome::RETRYABLE.contains(&result.as_str()) {
        retry_or_give_up(&mut item, policy, now);
    } else if result == outcome::FAILED {
        item.state = QueueState::Failed;
    } else {
        item.state = QueueState::Done;
    }
    item.last_result = Some(result);
    item.updated_at = now;
    batch.queue.push(item);
}

/// After a failed attempt: scheduled again after the backoff while attempts remain, else
/// failed for good. The one place the retry policy is applied.
pub fn retry_or_give_up(item: &mut QueueItem, policy: &QueuePolicy, now: DateTime<Utc>) {
    if item.attempts < policy.max_attempts {
        item.state = QueueState::Scheduled;
        item.scheduled_at =
            Some(now + Duration::seconds(policy.backoff_secs(item.attempts) as i64));
    } else {
        item.state = QueueState::Failed;
    }
}
