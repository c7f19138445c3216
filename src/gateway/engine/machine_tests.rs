//! Property test of the call state machine: random sequences of ingest events (with
//! duplicate ids and any order) and supervisor actions, applied to a real engine on a real
//! SQLite file, never move a call backwards and never leave a call both ended and live, in
//! memory or in the store.

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;

use crate::core::action::Action;
use crate::core::ingest::IngestEnvelope;
use crate::core::model::{Call, CallState, Role};
use crate::core::provider::ProviderError;
use crate::gateway::auth::Principal;
use crate::gateway::config::GatewayConfig;
use crate::gateway::engine::Gateway;
use crate::gateway::store::Store;

const ORG: &str = "acme";
const INTEGRATION: &str = "acme-voice";
const PCIDS: [&str; 2] = ["p1", "p2"];
const STATES: [&str; 6] = [
    "queued",
    "ringing",
    "in_progress",
    "ai_paused",
    "taken_over",
    "ended",
];

#[derive(Debug, Clone)]
enum Step {
    /// An ingest event; ids come from a small pool so that duplicates happen.
    Event {
        id: u8,
        pcid: usize,
        body: EventBody,
    },
    /// A supervisor's action the stack accepted (or refused).
    Act {
        pcid: usize,
        action: u8,
        stack_ok: bool,
    },
}

#[derive(Debug, Clone)]
enum EventBody {
    Started(Option<usize>),
    Status(usize),
    Line,
    Ended,
}

fn step() -> impl Strategy<Value = Step> {
    let body = prop_oneof![
        proptest::option::of(0..STATES.len()).prop_map(EventBody::Started),
        (0..STATES.len()).prop_map(EventBody::Status),
        Just(EventBody::Line),
        Just(EventBody::Ended),
    ];
    prop_oneof![
        (0u8..12, 0..PCIDS.len(), body).prop_map(|(id, pcid, body)| Step::Event { id, pcid, body }),
        (0..PCIDS.len(), 0u8..6, any::<bool>()).prop_map(|(pcid, action, stack_ok)| Step::Act {
            pcid,
            action,
            stack_ok
        }),
    ]
}

fn envelope(id: u8, pcid: &str, body: &EventBody) -> IngestEnvelope {
    let event = match body {
        EventBody::Started(state) => {
            let mut v = json!({"type": "call.started", "provider_call_id": pcid,
                "direction": "inbound", "from": "+1555", "to": "+1666"});
            if let Some(s) = state {
                v["state"] = json!(STATES[*s]);
            }
            v
        }
        EventBody::Status(s) => {
            json!({"type": "call.status", "provider_call_id": pcid, "status": STATES[*s]})
        }
        EventBody::Line => json!({"type": "transcript.final", "provider_call_id": pcid,
            "utterance_id": format!("u{id}"), "speaker": "caller", "text": "hello"}),
        EventBody::Ended => {
            json!({"type": "call.ended", "provider_call_id": pcid, "outcome": "completed"})
        }
    };
    IngestEnvelope {
        id: format!("e{id}"),
        occurred_at: None,
        event: serde_json::from_value(event).unwrap_or_else(|e| panic!("test event: {e}")),
    }
}

fn action(n: u8) -> Action {
    match n {
        0 => Action::TakeOver {
            reason: "caller asked".into(),
            notes: None,
        },
        1 => Action::PauseAi,
        2 => Action::ResumeAi,
        3 => Action::Say { text: "hi".into() },
        4 => Action::Instruct {
            text: "be brief".into(),
        },
        _ => Action::End,
    }
}

/// Queued, ringing, live, ended: the order states may only move forward in.
fn rank(s: CallState) -> u8 {
    match s {
        CallState::Queued => 0,
        CallState::Ringing => 1,
        CallState::InProgress | CallState::AiPaused | CallState::TakenOver => 2,
        CallState::Ended => 3,
    }
}

fn stored(gw: &Gateway, pcid: &str) -> Option<Call> {
    gw.store
        .read_latest_blocking(|r| r.find_call_by_provider(ORG, INTEGRATION, pcid))
        .unwrap_or_else(|e| panic!("store read: {e}"))
}

fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let store = Store::open(&dir.path().join("cw.db"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into();
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let gw: Arc<Gateway> = Gateway::new(GatewayConfig::default(), store, shutdown)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let who = Principal {
        name: "sam".into(),
        org: ORG.into(),
        role: Role::Supervisor,
    };
    let mut last_rank: HashMap<&str, u8> = HashMap::new();
    for step in steps {
        match step {
            Step::Event { id, pcid, body } => {
                // Refusals (unknown call, a backwards status) are part of the machine.
                let _ =
                    gw.apply_ingest(ORG, INTEGRATION, "Acme", &envelope(*id, PCIDS[*pcid], body));
            }
            Step::Act {
                pcid,
                action: n,
                stack_ok,
            } => {
                let Some(call) = stored(&gw, PCIDS[*pcid]) else {
                    continue;
                };
                let a = action(*n);
                // What `call_action` does once the claim is held and the stack answered.
                if a.kind().check_state(&call).is_ok() {
                    let performed = if *stack_ok {
                        Ok(())
                    } else {
                        Err(ProviderError::Upstream("stack said no".into()))
                    };
                    let _ = gw.record_action(&who, &call.id, &a, performed);
                }
            }
        }
        for pcid in PCIDS {
            let Some(db) = stored(&gw, pcid) else {
                continue;
            };
            let org = gw.org(ORG);
            let inner = org.lock();
            let live = inner.state.calls.get(&db.id).map(|ac| ac.call.clone());
            let r = rank(db.state);
            let before = last_rank.insert(pcid, r).unwrap_or(0);
            prop_assert!(
                r >= before,
                "{pcid} moved backwards to {:?} after {step:?}",
                db.state
            );
            prop_assert_eq!(db.ended_at.is_some(), db.state == CallState::Ended);
            match live {
                Some(mem) => {
                    prop_assert!(mem.state.is_active(), "memory holds an ended call live");
                    prop_assert_eq!(mem.state, db.state, "memory and store disagree");
                    prop_assert_eq!(&mem.takeover, &db.takeover);
                }
                None => prop_assert_eq!(
                    db.state,
                    CallState::Ended,
                    "a live call missing from memory"
                ),
            }
            let mapped = inner
                .state
                .by_provider
                .contains_key(&(INTEGRATION.to_string(), pcid.to_string()));
            prop_assert_eq!(mapped, db.state.is_active());
        }
    }
    Ok(())
}

proptest! {
    // Each case opens a SQLite file and commits every step: keep the count modest.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn calls_never_move_backwards_nor_end_twice(steps in proptest::collection::vec(step(), 1..40)) {
        run(&steps)?;
    }
}

#[test]
fn a_known_sequence_holds() {
    // start, a late ringing status, a takeover, a status trying to resume the AI, the end.
    let steps = [
        Step::Event {
            id: 1,
            pcid: 0,
            body: EventBody::Started(Some(2)),
        },
        Step::Event {
            id: 2,
            pcid: 0,
            body: EventBody::Status(1),
        },
        Step::Act {
            pcid: 0,
            action: 0,
            stack_ok: true,
        },
        Step::Event {
            id: 3,
            pcid: 0,
            body: EventBody::Status(2),
        },
        Step::Event {
            id: 4,
            pcid: 0,
            body: EventBody::Status(5),
        },
        Step::Event {
            id: 5,
            pcid: 0,
            body: EventBody::Ended,
        },
        Step::Event {
            id: 6,
            pcid: 0,
            body: EventBody::Started(Some(1)),
        },
    ];
    assert!(run(&steps).is_ok());
}
