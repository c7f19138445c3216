//! The simulator on its own: scenarios, speech, actions, dialing, determinism.
//! A collecting sink stands in for the gateway; time is compressed with a high speed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callwatch::core::action::{Action, Capability, TransferMode};
use callwatch::core::ingest::{EventSink, IngestEnvelope, IngestEvent, SinkError};
use callwatch::core::model::{
    Call, CallState, Direction, Lead, QueueItem, QueueState, Sentiment, Speaker,
};
use callwatch::core::provider::{Provider, ProviderError};
use callwatch::sim::{SimConfig, Simulator};
use chrono::Utc;

#[derive(Default)]
struct Collect {
    events: Mutex<Vec<IngestEnvelope>>,
}

#[async_trait::async_trait]
impl EventSink for Collect {
    async fn submit(&self, event: IngestEnvelope) -> Result<(), SinkError> {
        self.events
            .lock()
            .map_err(|e| SinkError::Closed(e.to_string()))?
            .push(event);
        Ok(())
    }
}

impl Collect {
    fn all(&self) -> Vec<IngestEnvelope> {
        self.events.lock().unwrap().clone()
    }
    fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }
    fn of(&self, call: &str) -> Vec<IngestEvent> {
        self.all()
            .into_iter()
            .map(|e| e.event)
            .filter(|e| e.provider_call_id() == call)
            .collect()
    }
    fn of_since(&self, call: &str, since: usize) -> Vec<IngestEvent> {
        self.all()[since..]
            .iter()
            .map(|e| e.event.clone())
            .filter(|e| e.provider_call_id() == call)
            .collect()
    }
}

fn cfg(seed: u64, speed: f64) -> SimConfig {
    SimConfig {
        org: "acme".into(),
        integration: "sim-test".into(),
        seed,
        calls_per_minute: 0.0,
        speed,
        max_concurrent: 48,
        scenarios_dir: None,
    }
}

fn start(config: SimConfig) -> (Arc<Simulator>, Arc<Collect>) {
    let sink = Arc::new(Collect::default());
    let sim = Simulator::start(config, sink.clone()).expect("simulator starts");
    (sim, sink)
}

/// Polls until `f` holds, failing with `what` after a generous deadline.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ended(events: &[IngestEvent]) -> Option<(String, Option<f64>, Option<f64>)> {
    events.iter().find_map(|e| match e {
        IngestEvent::CallEnded {
            outcome,
            cost,
            duration_secs,
            ..
        } => Some((outcome.clone(), *cost, *duration_secs)),
        _ => None,
    })
}

fn finals(events: &[IngestEvent]) -> Vec<(Speaker, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            IngestEvent::TranscriptFinal { speaker, text, .. } => Some((*speaker, text.clone())),
            _ => None,
        })
        .collect()
}

fn is_ai_speech(e: &IngestEvent) -> bool {
    matches!(
        e,
        IngestEvent::TranscriptPartial {
            speaker: Speaker::Ai,
            ..
        } | IngestEvent::TranscriptFinal {
            speaker: Speaker::Ai,
            ..
        }
    )
}

fn call_for(id: &str) -> Call {
    let now = Utc::now();
    Call {
        id: format!("cw-{id}"),
        org: "acme".into(),
        integration: "sim-test".into(),
        provider: "Retell".into(),
        provider_call_id: id.into(),
        direction: Direction::Inbound,
        from: "+1".into(),
        to: "+2".into(),
        lead: Lead::default(),
        campaign: None,
        assistant: None,
        state: CallState::InProgress,
        created_at: now,
        started_at: Some(now),
        ended_at: None,
        duration_secs: None,
        intent: None,
        sentiment: Sentiment::Unknown,
        outcome: None,
        cost: None,
        recording_url: None,
        summary: None,
        takeover: None,
        alerts: vec![],
        queue_item_id: None,
        capabilities: None,
        compliance: None,
        updated_at: now,
    }
}

fn queue_item(id: &str, name: &str, settings: serde_json::Value) -> QueueItem {
    let now = Utc::now();
    QueueItem {
        id: id.into(),
        org: "acme".into(),
        lead: Lead {
            id: Some("lead-7".into()),
            name: Some(name.into()),
        },
        phone_number: "+13125550199".into(),
        campaign: Some("Spring buyers".into()),
        script: None,
        agent_settings: settings,
        scheduled_at: None,
        time_zone: None,
        state: QueueState::Dialing,
        attempts: 0,
        call_id: None,
        last_result: None,
        created_at: now,
        updated_at: now,
    }
}

/// Every outcome a scenario can end with (its own and its branches').
fn declared_outcomes(sim: &Simulator, name: &str) -> HashSet<String> {
    let s = sim.scenarios().get(name).unwrap();
    let mut out: HashSet<String> = s.steps.iter().filter_map(|st| st.outcome.clone()).collect();
    out.insert(s.outcome.clone());
    out
}

/// Partials of one utterance grow, and its final starts from the last partial.
fn check_speech(events: &[IngestEvent]) {
    let mut partial: HashMap<String, String> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    for e in events {
        match e {
            IngestEvent::TranscriptPartial {
                utterance_id, text, ..
            } => {
                assert!(
                    !done.contains(utterance_id),
                    "partial after final: {utterance_id}"
                );
                if let Some(prev) = partial.get(utterance_id) {
                    assert!(
                        text.starts_with(prev.as_str()),
                        "partial shrank: {prev:?} -> {text:?}"
                    );
                    assert!(text.len() > prev.len(), "partial did not grow: {text:?}");
                }
                partial.insert(utterance_id.clone(), text.clone());
            }
            IngestEvent::TranscriptFinal {
                utterance_id, text, ..
            } => {
                assert!(
                    done.insert(utterance_id.clone()),
                    "two finals for {utterance_id}"
                );
                if let Some(prev) = partial.get(utterance_id) {
                    assert!(
                        text.starts_with(prev.trim_end_matches('—')),
                        "final {text:?} does not revise {prev:?}"
                    );
                }
            }
            _ => {}
        }
    }
    for id in partial.keys() {
        assert!(done.contains(id), "utterance {id} never became final");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_plays_to_its_outcome_with_realistic_speech() {
    let (sim, sink) = start(cfg(11, 200.0));
    let names: Vec<String> = sim
        .scenarios()
        .scenarios
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert!(names.len() >= 11, "{names:?}");
    let mut calls = Vec::new();
    for name in &names {
        for _ in 0..3 {
            calls.push((name.clone(), sim.spawn_scenario(name).unwrap()));
        }
    }
    until("every call ends", || {
        calls.iter().all(|(_, id)| ended(&sink.of(id)).is_some())
    })
    .await;
    for (name, id) in &calls {
        let events = sink.of(id);
        let scenario = sim.scenarios().get(name).unwrap().clone();
        let (outcome, cost, duration) = ended(&events).unwrap();
        assert!(
            declared_outcomes(&sim, name).contains(&outcome),
            "{name}: unexpected outcome {outcome}"
        );
        match events.first() {
            Some(IngestEvent::CallStarted {
                provider,
                direction,
                state,
                ..
            }) => {
                assert_eq!(provider.as_deref(), Some(scenario.provider.as_str()));
                assert_eq!(*direction, scenario.direction);
                assert_eq!(*state, Some(CallState::Ringing));
            }
            other => panic!("{name}: first event is not call.started: {other:?}"),
        }
        check_speech(&events);
        let f = finals(&events);
        if scenario.answered {
            assert!(
                f.iter().any(|(s, _)| *s == Speaker::Ai),
                "{name}: AI never spoke"
            );
            assert!(
                f.iter().any(|(s, _)| *s == Speaker::Caller),
                "{name}: caller never spoke"
            );
            assert!(duration.unwrap() > 5.0, "{name}: {duration:?}");
            let expected = duration.unwrap() / 60.0 * scenario.cost_per_minute;
            assert!(
                (cost.unwrap() - expected).abs() < 0.01,
                "{name}: cost {cost:?} vs {expected}"
            );
            assert!(events.iter().any(|e| matches!(
                e,
                IngestEvent::CallStatus {
                    status: CallState::InProgress,
                    ..
                }
            )));
        } else {
            assert!(f.is_empty(), "{name}: unanswered call has speech");
            assert_eq!(cost, Some(0.0));
        }
        if name == "ai_silent" {
            assert!(
                events.iter().any(
                    |e| matches!(e, IngestEvent::CallAlert { kind, .. } if kind == "ai_silent")
                ),
                "ai_silent raised no alert"
            );
        }
        if name == "frustrated_caller" {
            assert!(events.iter().any(|e| matches!(
                e,
                IngestEvent::CallAnalysis {
                    sentiment: Some(Sentiment::Negative),
                    ..
                }
            )));
            assert!(events.iter().any(|e| matches!(e, IngestEvent::CallAlert { kind, .. } if kind == "negative_sentiment")), "frustrated caller raised no alert");
        }
    }
    // Event ids are unique (the gateway dedupes by id).
    let all = sink.all();
    let ids: HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), all.len());
    assert_eq!(sim.live_calls(), 0);
    // Interruptions happen somewhere on a floor of 33 calls.
    assert!(all.iter().any(|e| matches!(&e.event, IngestEvent::TranscriptFinal { speaker: Speaker::Ai, text, .. } if text.ends_with('—'))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_of_one_scenario_differ() {
    let (sim, sink) = start(cfg(3, 200.0));
    let a = sim.spawn_scenario("inbound_viewing").unwrap();
    let b = sim.spawn_scenario("inbound_viewing").unwrap();
    until("both end", || {
        ended(&sink.of(&a)).is_some() && ended(&sink.of(&b)).is_some()
    })
    .await;
    assert_ne!(finals(&sink.of(&a)), finals(&sink.of(&b)));
}

/// Per floor call index: its scenario's provider and its final lines.
fn floor_by_index(sink: &Collect) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for e in sink.all() {
        let id = e.event.provider_call_id().to_string();
        let Some(idx) = id.rsplit('-').next().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let entry = out.entry(idx).or_default();
        match e.event {
            IngestEvent::CallStarted { provider, lead, .. } => {
                entry.push(format!("start {provider:?} {lead:?}"))
            }
            IngestEvent::TranscriptFinal { speaker, text, .. } => {
                entry.push(format!("{speaker:?}: {text}"))
            }
            IngestEvent::CallEnded { outcome, .. } => entry.push(format!("ended {outcome}")),
            _ => {}
        }
    }
    out
}

async fn run_floor(seed: u64) -> BTreeMap<u64, Vec<String>> {
    let mut c = cfg(seed, 150.0);
    c.calls_per_minute = 30.0;
    c.max_concurrent = 6;
    let (sim, sink) = start(c);
    // Seeded calls are live within a second, already mid-conversation.
    until("seeded calls", || sim.live_calls() == 6).await;
    until("twelve floor calls ended", || {
        floor_by_index(&sink)
            .values()
            .filter(|v| v.last().is_some_and(|l| l.starts_with("ended")))
            .count()
            >= 12
    })
    .await;
    sim.stop();
    // The six seeded calls start already answered and mid-conversation.
    let mut seen = HashSet::new();
    for e in sink.all() {
        let id = e.event.provider_call_id().to_string();
        let idx: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
        if idx < 6 && seen.insert(id) {
            assert!(
                matches!(
                    e.event,
                    IngestEvent::CallStarted {
                        state: Some(CallState::InProgress),
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
    assert_eq!(seen.len(), 6);
    floor_by_index(&sink)
        .into_iter()
        .filter(|(_, v)| v.last().is_some_and(|l| l.starts_with("ended")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_floor() {
    let a = run_floor(42).await;
    let b = run_floor(42).await;
    let c = run_floor(43).await;
    let common: Vec<&u64> = a.keys().filter(|k| b.contains_key(*k)).collect();
    assert!(common.len() >= 8, "too few calls in common: {common:?}");
    for k in common {
        assert_eq!(a[k], b[k], "call {k} differs between runs with one seed");
    }
    let differs = a
        .keys()
        .filter(|k| c.contains_key(*k))
        .any(|k| a[k] != c[k]);
    assert!(differs, "another seed gave the same floor");
}

async fn first_ai_final(sink: &Collect, id: &str) {
    until("the AI speaks", || {
        finals(&sink.of(id)).iter().any(|(s, _)| *s == Speaker::Ai)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_silences_the_ai_until_resume() {
    let (sim, sink) = start(cfg(5, 20.0));
    let id = sim.spawn_scenario("inbound_offer").unwrap();
    first_ai_final(&sink, &id).await;
    let call = call_for(&id);
    sim.perform(&call, &Action::PauseAi, "alice").await.unwrap();
    let paused_at = sink.len();
    // The caller notices ("Hello?") while the AI stays quiet.
    until("the caller says hello", || {
        finals(&sink.of_since(&id, paused_at))
            .iter()
            .any(|(s, t)| *s == Speaker::Caller && t.starts_with("Hello?"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = sink.of_since(&id, paused_at);
    assert!(
        !during.iter().any(is_ai_speech),
        "AI spoke while paused: {during:?}"
    );
    assert!(ended(&during).is_none());
    sim.perform(&call, &Action::ResumeAi, "alice")
        .await
        .unwrap();
    let resumed_at = sink.len();
    until("call ends", || ended(&sink.of(&id)).is_some()).await;
    let after = sink.of_since(&id, resumed_at);
    assert!(
        after.iter().any(is_ai_speech),
        "the AI did not continue after resume"
    );
    let (outcome, _, _) = ended(&after).unwrap();
    assert!(declared_outcomes(&sim, "inbound_offer").contains(&outcome));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_say_and_end() {
    let (sim, sink) = start(cfg(6, 30.0));
    let id = sim.spawn_scenario("inbound_viewing").unwrap();
    first_ai_final(&sink, &id).await;
    let call = call_for(&id);
    let take = Action::TakeOver {
        reason: "VIP client".into(),
        notes: None,
        mode: None,
        phone: None,
    };
    sim.perform(&call, &take, "alice").await.unwrap();
    let since = sink.len();
    let before = sink.of(&id);
    // The gateway records who took over (a system line for every provider): the
    // simulator does not say it a second time.
    assert!(!finals(&before)
        .iter()
        .any(|(speaker, text)| *speaker == Speaker::System && text.contains("took over")));
    sim.perform(
        &call,
        &Action::Say {
            text: "Hi, this is Alice. Does Saturday work?".into(),
        },
        "alice",
    )
    .await
    .unwrap();
    until("the caller answers the human", || {
        let f = finals(&sink.of_since(&id, since));
        f.iter()
            .position(|(s, _)| *s == Speaker::Human)
            .is_some_and(|h| f[h + 1..].iter().any(|(s, _)| *s == Speaker::Caller))
    })
    .await;
    let f = finals(&sink.of_since(&id, since));
    assert!(f.contains(&(
        Speaker::Human,
        "Hi, this is Alice. Does Saturday work?".into()
    )));
    // The AI is gone for good; it cannot be instructed any more.
    assert!(sim
        .perform(&call, &Action::Instruct { text: "x".into() }, "alice")
        .await
        .is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !sink.of_since(&id, since).iter().any(is_ai_speech),
        "AI spoke after take over"
    );
    sim.perform(&call, &Action::End, "alice").await.unwrap();
    until("ended", || ended(&sink.of(&id)).is_some()).await;
    let (outcome, cost, duration) = ended(&sink.of(&id)).unwrap();
    assert_eq!(outcome, "ended_by_supervisor");
    assert!(cost.unwrap() > 0.0 && duration.unwrap() > 0.0);
    // The call is gone: further actions say so.
    let again = sim.perform(&call, &Action::PauseAi, "alice").await;
    assert!(matches!(again, Err(ProviderError::Gone(_))), "{again:?}");
    let unknown = sim
        .perform(&call_for("sim-nope"), &Action::PauseAi, "alice")
        .await;
    assert!(matches!(unknown, Err(ProviderError::Gone(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_back_lets_the_ai_close_the_call_and_transfer_ends_it_transferred() {
    let (sim, sink) = start(cfg(7, 30.0));
    let id = sim.spawn_scenario("inbound_viewing").unwrap();
    first_ai_final(&sink, &id).await;
    let call = call_for(&id);
    let hand_back = sim.perform(&call, &Action::HandBack, "alice").await;
    assert!(hand_back.is_err(), "nobody holds the call yet");
    let take = Action::TakeOver {
        reason: "check".into(),
        notes: None,
        mode: None,
        phone: None,
    };
    sim.perform(&call, &take, "alice").await.unwrap();
    let say = Action::Say {
        text: "Hi, this is Alice. Does Saturday work?".into(),
    };
    sim.perform(&call, &say, "alice").await.unwrap();
    let since = sink.len();
    until("the caller answers the human", || {
        finals(&sink.of_since(&id, since))
            .iter()
            .any(|(s, _)| *s == Speaker::Caller)
    })
    .await;
    sim.perform(&call, &Action::HandBack, "alice")
        .await
        .unwrap();
    until("ended", || ended(&sink.of(&id)).is_some()).await;
    let after = finals(&sink.of_since(&id, since));
    assert!(
        after
            .iter()
            .any(|(s, t)| *s == Speaker::Ai && t.contains("I'm back with you")),
        "{after:?}"
    );
    assert_eq!(ended(&sink.of(&id)).unwrap().0, "completed");

    let id = sim.spawn_scenario("inbound_viewing").unwrap();
    first_ai_final(&sink, &id).await;
    let transfer = Action::Transfer {
        to: "+15550002222".into(),
        name: Some("Sales desk".into()),
        mode: TransferMode::Cold,
        summary: None,
    };
    sim.perform(&call_for(&id), &transfer, "alice")
        .await
        .unwrap();
    until("ended", || ended(&sink.of(&id)).is_some()).await;
    assert_eq!(ended(&sink.of(&id)).unwrap().0, "transferred");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instruct_shapes_the_next_ai_turn() {
    let (sim, sink) = start(cfg(8, 20.0));
    let id = sim.spawn_scenario("outbound_qualification").unwrap();
    first_ai_final(&sink, &id).await;
    let call = call_for(&id);
    sim.perform(
        &call,
        &Action::Instruct {
            text: "offer them a free mortgage consultation".into(),
        },
        "alice",
    )
    .await
    .unwrap();
    let since = sink.len();
    until("the AI speaks again", || {
        sink.of_since(&id, since).iter().any(|e| {
            matches!(
                e,
                IngestEvent::TranscriptFinal {
                    speaker: Speaker::Ai,
                    ..
                }
            )
        })
    })
    .await;
    let events = sink.of_since(&id, since);
    // The first AI utterance that starts after the instruction carries it out.
    let first_ai_utterance = events.iter().find_map(|e| match e {
        IngestEvent::TranscriptPartial {
            speaker: Speaker::Ai,
            utterance_id,
            ..
        } => Some(utterance_id.clone()),
        _ => None,
    });
    let text = events.iter().find_map(|e| match e {
        IngestEvent::TranscriptFinal {
            speaker: Speaker::Ai,
            utterance_id,
            text,
            ..
        } if Some(utterance_id) == first_ai_utterance.as_ref() => Some(text.clone()),
        _ => None,
    });
    assert_eq!(
        text.as_deref(),
        Some("Of course — I can also offer you a free mortgage consultation.")
    );
    sim.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_ai_raises_an_alert_and_resume_revives_it() {
    let (sim, sink) = start(cfg(9, 5.0));
    let id = sim.spawn_scenario("ai_silent").unwrap();
    until("ai_silent alert", || {
        sink.of(&id)
            .iter()
            .any(|e| matches!(e, IngestEvent::CallAlert { kind, .. } if kind == "ai_silent"))
    })
    .await;
    let call = call_for(&id);
    sim.perform(&call, &Action::ResumeAi, "alice")
        .await
        .unwrap();
    until("ended", || ended(&sink.of(&id)).is_some()).await;
    let events = sink.of(&id);
    assert!(events
        .iter()
        .any(|e| matches!(e, IngestEvent::CallAlertCleared { kind, .. } if kind == "ai_silent")));
    assert!(finals(&events)
        .iter()
        .any(|(s, t)| *s == Speaker::Ai && t.starts_with("Sorry about the delay")));
    assert_eq!(ended(&events).unwrap().0, "question_answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_a_queue_item() {
    let (sim, sink) = start(cfg(10, 200.0));
    assert_eq!(sim.name(), "sim-test");
    assert!(sim.capabilities().contains(&Capability::Dial));
    // Everything but bridging a real phone.
    assert_eq!(sim.capabilities().len(), Capability::ALL.len() - 1);
    assert!(!sim.capabilities().contains(&Capability::PhoneTakeOver));
    let item = queue_item(
        "q-1",
        "Zed Zulu",
        serde_json::json!({"simulate": "outbound_qualification"}),
    );
    let started = sim.dial(&item).await.unwrap();
    let id = started.provider_call_id;
    until("dialed call ends", || ended(&sink.of(&id)).is_some()).await;
    let events = sink.of(&id);
    match &events[0] {
        IngestEvent::CallStarted {
            queue_item_id,
            to,
            lead,
            direction,
            campaign,
            ..
        } => {
            assert_eq!(queue_item_id.as_deref(), Some("q-1"));
            assert_eq!(to, "+13125550199");
            assert_eq!(
                lead.as_ref().and_then(|l| l.name.as_deref()),
                Some("Zed Zulu")
            );
            assert_eq!(lead.as_ref().and_then(|l| l.id.as_deref()), Some("lead-7"));
            assert_eq!(*direction, Direction::Outbound);
            assert_eq!(campaign.as_deref(), Some("Spring buyers"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        finals(&events)[0].1.contains("Zed Zulu"),
        "the AI greets the lead by name"
    );

    let busy = sim
        .dial(&queue_item(
            "q-2",
            "Bo",
            serde_json::json!({"simulate": "outbound_busy"}),
        ))
        .await
        .unwrap();
    until("busy ends", || {
        ended(&sink.of(&busy.provider_call_id)).is_some()
    })
    .await;
    assert_eq!(ended(&sink.of(&busy.provider_call_id)).unwrap().0, "busy");

    // Without a forced scenario the outcome comes from the weights: over many dials both
    // conversations and unreached outcomes (which the gateway retries) occur.
    let mut outcomes = HashSet::new();
    let mut ids = Vec::new();
    for i in 0..30 {
        let d = sim
            .dial(&queue_item(
                &format!("q-r{i}"),
                "Al",
                serde_json::Value::Null,
            ))
            .await
            .unwrap();
        ids.push(d.provider_call_id);
    }
    until("all dials end", || {
        ids.iter().all(|id| ended(&sink.of(id)).is_some())
    })
    .await;
    for id in &ids {
        outcomes.insert(ended(&sink.of(id)).unwrap().0);
    }
    assert!(
        outcomes.iter().any(|o| o == "no_answer" || o == "busy"),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| o != "no_answer" && o != "busy" && o != "voicemail"),
        "{outcomes:?}"
    );
    assert!(sim
        .dial(&queue_item(
            "q-x",
            "Al",
            serde_json::json!({"simulate": "nope"})
        ))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_load_from_a_directory_and_bad_files_are_named() {
    let mut c = cfg(1, 1.0);
    c.scenarios_dir =
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios"));
    let (sim, _sink) = start(c);
    let builtin = start(cfg(1, 1.0)).0;
    let names = |s: &Simulator| {
        s.scenarios()
            .scenarios
            .iter()
            .map(|x| x.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&sim), names(&builtin));

    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/scenarios/inbound_viewing.toml"),
    )
    .unwrap();
    let bad = good.replacen("next = \"offer_viewing\"", "next = \"offer_viewnig\"", 1);
    let line = bad
        .lines()
        .position(|l| l.contains("offer_viewnig"))
        .unwrap()
        + 1;
    std::fs::write(dir.path().join("broken.toml"), bad).unwrap();
    let mut c = cfg(1, 1.0);
    c.scenarios_dir = Some(dir.path().to_path_buf());
    let err = Simulator::start(c.clone(), Arc::new(Collect::default()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(&format!("broken.toml:{line}:")), "{err}");
    assert!(err.contains("offer_viewnig"), "{err}");

    std::fs::write(
        dir.path().join("broken.toml"),
        "title = \"x\"\ndirection = \"sideways\"\n",
    )
    .unwrap();
    let err = Simulator::start(c, Arc::new(Collect::default()))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("broken.toml:2:"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_left_on_a_paused_ai_answers_the_human_then_hangs_up() {
    let (sim, sink) = start(cfg(12, 200.0));
    let id = sim.spawn_scenario("after_hours").unwrap();
    first_ai_final(&sink, &id).await;
    let call = call_for(&id);
    sim.perform(&call, &Action::PauseAi, "alice").await.unwrap();
    let since = sink.len();
    sim.perform(
        &call,
        &Action::Say {
            text: "Sorry, one moment please.".into(),
        },
        "alice",
    )
    .await
    .unwrap();
    until("ended", || ended(&sink.of(&id)).is_some()).await;
    let after = sink.of_since(&id, since);
    let f = finals(&after);
    assert_eq!(f[0], (Speaker::Human, "Sorry, one moment please.".into()));
    assert_eq!(
        f[1].0,
        Speaker::Caller,
        "the caller answers the human: {f:?}"
    );
    assert!(!after.iter().any(is_ai_speech), "AI spoke while paused");
    assert_eq!(ended(&after).unwrap().0, "caller_hung_up");
}
