//! The simulator behind the real gateway: real SQLite file, real HTTP on 127.0.0.1, real
//! websocket. Checks that simulated calls, transcripts and analytics show up, and that every
//! supervisor action and queue operation changes the call and appears in the event stream.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callwatch::app::{start_gateway, SimulatorOptions};
use callwatch::core::model::{
    Analytics, AuditEntry, Call, CallState, QueueItem, QueueState, Role, Speaker, TranscriptEntry,
};
use callwatch::core::protocol::{CallList, QueueList, ServerFrame, StreamEvent, Transcript};
use callwatch::gateway::{GatewayConfig, GatewayOptions, RunningGateway};
use callwatch::sim::{SimConfig, Simulator};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "cw_test_supervisor_token_0123456789";

struct Env {
    running: Option<RunningGateway>,
    http: reqwest::Client,
    base: String,
    frames: Arc<Mutex<Vec<ServerFrame>>>,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new(sim: Option<SimulatorOptions>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = GatewayConfig::default().with_token("sup", TOKEN, "acme", Role::Supervisor);
        let options = GatewayOptions::new(config, dir.path().join("callwatch.db"));
        let running = start_gateway(options, sim.as_ref())
            .await
            .expect("gateway starts");
        let base = running.url();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let mut request = format!("{}/api/stream", base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket");
        let sink = frames.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Ok(text) = msg.to_text() {
                    if let Ok(frame) = serde_json::from_str::<ServerFrame>(text) {
                        sink.lock().unwrap().push(frame);
                    }
                }
            }
        });
        Env {
            running: Some(running),
            http: reqwest::Client::new(),
            base,
            frames,
            _dir: dir,
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {v}");
        v
    }

    async fn call(&self, id: &str) -> Call {
        self.get(&format!("/api/calls/{id}")).await
    }

    async fn transcript(&self, id: &str) -> Vec<TranscriptEntry> {
        self.get::<Transcript>(&format!("/api/calls/{id}/transcript"))
            .await
            .entries
    }

    async fn active(&self) -> Vec<Call> {
        self.get::<CallList>("/api/calls/active").await.calls
    }

    /// Every call, following history pages.
    async fn all_calls(&self) -> Vec<Call> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/calls?limit=200&cursor={c}"),
                None => "/api/calls?limit=200".to_string(),
            };
            let page: CallList = self.get(&path).await;
            out.extend(page.calls);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return out,
            }
        }
    }

    fn events(&self) -> Vec<(u64, StreamEvent)> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| match f {
                ServerFrame::Event { seq, event, .. } => Some((*seq, event.clone())),
                _ => None,
            })
            .collect()
    }
}

async fn until<F, Fut, T>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

fn entry_of(e: &StreamEvent, call_id: &str) -> Option<TranscriptEntry> {
    match e {
        StreamEvent::TranscriptAppended { entry } | StreamEvent::TranscriptRevised { entry }
            if entry.call_id == call_id =>
        {
            Some(entry.clone())
        }
        _ => None,
    }
}

fn state_seq(
    events: &[(u64, StreamEvent)],
    call_id: &str,
    state: CallState,
    after: u64,
) -> Option<u64> {
    events.iter().find_map(|(seq, e)| match e {
        StreamEvent::CallUpdated { call } | StreamEvent::CallEnded { call }
            if *seq > after && call.id == call_id && call.state == state =>
        {
            Some(*seq)
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_simulate_shows_live_calls_transcripts_and_analytics() {
    let env = Env::new(Some(SimulatorOptions {
        seed: Some(3),
        calls_per_minute: Some(6.0),
        speed: Some(8.0),
        scenarios: None,
        max_concurrent: None,
    }))
    .await;
    // The floor is seeded: calls are live and mid-conversation at once.
    let active = until("live calls", || async {
        let a = env.active().await;
        (a.len() >= 5).then_some(a)
    })
    .await;
    assert!(active
        .iter()
        .all(|c| c.integration == "simulator" && c.org == "acme"));
    let providers: std::collections::HashSet<&str> =
        active.iter().map(|c| c.provider.as_str()).collect();
    assert!(providers.len() >= 2, "{providers:?}");
    // Seeded calls are mid-conversation: their transcripts already have lines.
    until("calls with transcript lines", || async {
        let mut with_lines = 0;
        for c in env.active().await {
            if !env.transcript(&c.id).await.is_empty() {
                with_lines += 1;
            }
        }
        (with_lines >= 5).then_some(())
    })
    .await;
    let analytics: Analytics = env.get("/api/calls/analytics").await;
    assert!(analytics.total_calls >= 5);
    // The stream delivers a snapshot with the calls, then live transcript revisions.
    until("stream snapshot and live speech", || async {
        let frames = env.frames.lock().unwrap().clone();
        // The stream may connect before the simulator's first call exists: the calls come
        // either in the snapshot or as events after it.
        let snap = frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Snapshot { .. }));
        let calls = frames.iter().any(|f| match f {
            ServerFrame::Snapshot { snapshot } => !snapshot.calls.is_empty(),
            ServerFrame::Event {
                event: StreamEvent::CallUpdated { .. },
                ..
            } => true,
            _ => false,
        });
        let revised = frames.iter().any(|f| {
            matches!(
                f,
                ServerFrame::Event {
                    event: StreamEvent::TranscriptRevised { .. },
                    ..
                }
            )
        });
        (snap && calls && revised).then_some(())
    })
    .await;
    if let Some(r) = env.running {
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_queue_and_analytics_through_the_real_gateway() {
    let mut env = Env::new(None).await;
    let sim = {
        let running = env.running.as_ref().unwrap();
        let config = SimConfig {
            org: "acme".into(),
            integration: "simulator".into(),
            seed: 21,
            calls_per_minute: 0.0,
            speed: 10.0,
            max_concurrent: 48,
            scenarios_dir: None,
        };
        let sim = Simulator::start(config, running.sink("acme", "simulator")).unwrap();
        running.register_provider("acme", sim.clone());
        sim
    };

    // ---- pause / resume ----
    let pcid = sim.spawn_scenario("inbound_offer").unwrap();
    let call = until("the call is live and the AI has spoken", || async {
        let c = env
            .active()
            .await
            .into_iter()
            .find(|c| c.provider_call_id == pcid)?;
        if c.state != CallState::InProgress {
            return None;
        }
        let t = env.transcript(&c.id).await;
        t.iter()
            .any(|e| e.speaker == Speaker::Ai && e.is_final)
            .then_some(c)
    })
    .await;
    assert_eq!(call.provider, "Bland");
    let id = call.id.clone();
    let r = env
        .post(&format!("/api/calls/{id}/pause-ai"), json!({}))
        .await;
    assert_eq!(r["call"]["state"], "ai_paused");
    // The caller notices the silence.
    until("the caller says hello", || async {
        let t = env.transcript(&id).await;
        t.iter()
            .any(|e| e.speaker == Speaker::Caller && e.text.starts_with("Hello?"))
            .then_some(())
    })
    .await;
    // Instructed while paused (the supervisor prepares the AI before letting it talk).
    env.post(
        &format!("/api/calls/{id}/instruct"),
        json!({"text": "mention the open house on Saturday"}),
    )
    .await;
    let (status, r) = env
        .send(
            reqwest::Method::DELETE,
            &format!("/api/calls/{id}/pause-ai"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["call"]["state"], "in_progress");
    until("the AI talks again", || async {
        let ev = env.events();
        let resumed = state_seq(
            &ev,
            &id,
            CallState::InProgress,
            state_seq(&ev, &id, CallState::AiPaused, 0)?,
        )?;
        ev.iter()
            .any(|(s, e)| {
                *s > resumed && entry_of(e, &id).is_some_and(|x| x.speaker == Speaker::Ai)
            })
            .then_some(())
    })
    .await;
    // Between the pause and the resume the stream carried no AI speech.
    let ev = env.events();
    let paused = state_seq(&ev, &id, CallState::AiPaused, 0).unwrap();
    let resumed = state_seq(&ev, &id, CallState::InProgress, paused).unwrap();
    let between: Vec<_> = ev
        .iter()
        .filter(|(s, _)| *s > paused && *s < resumed)
        .filter_map(|(_, e)| entry_of(e, &id))
        .collect();
    assert!(
        between.iter().all(|e| e.speaker != Speaker::Ai),
        "{between:?}"
    );
    assert!(between.iter().any(|e| e.speaker == Speaker::Caller));
    let first_ai_after = ev
        .iter()
        .filter(|(s, _)| *s > resumed)
        .filter_map(|(_, e)| entry_of(e, &id))
        .find(|e| e.speaker == Speaker::Ai)
        .unwrap();
    assert!(
        "I should also mention the open house on Saturday."
            .starts_with(first_ai_after.text.trim_end_matches('—')),
        "{first_ai_after:?}"
    );

    // ---- instruct: the AI's first words after the resume carry it out ----
    until("the AI carries out the instruction", || async {
        let t = env.transcript(&id).await;
        t.iter()
            .any(|e| {
                e.speaker == Speaker::Ai
                    && e.is_final
                    && e.text == "I should also mention the open house on Saturday."
            })
            .then_some(())
    })
    .await;

    // ---- take over, say, end ----
    let r = env
        .post(
            &format!("/api/calls/{id}/takeover"),
            json!({"reason": "caller wants a person"}),
        )
        .await;
    assert_eq!(r["call"]["state"], "taken_over");
    let t = env.transcript(&id).await;
    let took_over: Vec<&str> = t
        .iter()
        .filter(|e| e.speaker == Speaker::System && e.text.contains("took over"))
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(
        took_over,
        vec!["sup took over the call: caller wants a person"],
        "said once, by the gateway"
    );
    let ai_before = t.iter().filter(|e| e.speaker == Speaker::Ai).count();
    env.post(
        &format!("/api/calls/{id}/say"),
        json!({"text": "Hi, this is Sam from the office. Can I help?"}),
    )
    .await;
    until("the caller answers the human", || async {
        let t = env.transcript(&id).await;
        let h = t
            .iter()
            .position(|e| e.speaker == Speaker::Human && e.text.starts_with("Hi, this is Sam"))?;
        t[h + 1..]
            .iter()
            .any(|e| e.speaker == Speaker::Caller && e.is_final)
            .then_some(())
    })
    .await;
    let t = env.transcript(&id).await;
    assert_eq!(
        t.iter().filter(|e| e.speaker == Speaker::Ai).count(),
        ai_before,
        "the AI spoke after the take over"
    );
    let (status, _) = env
        .send(
            reqwest::Method::POST,
            &format!("/api/calls/{id}/instruct"),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, 409);
    let r = env.post(&format!("/api/calls/{id}/end"), json!({})).await;
    assert_eq!(r["call"]["state"], "ended");
    assert_eq!(r["call"]["outcome"], "ended_by_supervisor");
    let ended = until("cost and duration filled in", || async {
        let c = env.call(&id).await;
        (c.cost.is_some_and(|x| x > 0.0) && c.duration_secs.is_some_and(|d| d > 0.0)).then_some(c)
    })
    .await;
    assert_eq!(ended.outcome.as_deref(), Some("ended_by_supervisor"));
    assert!(ended.takeover.is_some());
    let audit: Value = env.get("/api/audit").await;
    let entries: Vec<AuditEntry> = serde_json::from_value(audit["entries"].clone()).unwrap();
    for action in [
        "pause_ai",
        "resume_ai",
        "instruct",
        "takeover",
        "say",
        "end",
    ] {
        assert!(
            entries
                .iter()
                .any(|a| a.action == action && a.ok && a.call_id.as_deref() == Some(id.as_str())),
            "no audit entry for {action}: {entries:?}"
        );
        // The REST answer can beat the stream frame to the test: wait for the frame.
        until(&format!("{action} in the stream"), || async {
            env.events()
                .iter()
                .any(|(_, e)| {
                    matches!(e, StreamEvent::ActionAudited { audit } if audit.action == action)
                })
                .then_some(())
        })
        .await;
    }
    assert!(env
        .events()
        .iter()
        .any(|(_, e)| matches!(e, StreamEvent::CallEnded { call } if call.id == id)));

    // ---- queue: dial-now of a busy line (retried), cancel, scheduled dial ----
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let busy: QueueItem = serde_json::from_value(
        env.post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+1 312 555 0123", "leadName": "Quinn Busy", "agentSettings": {"simulate": "outbound_busy"}, "scheduledAt": later}),
        )
        .await,
    )
    .unwrap();
    assert_eq!(busy.state, QueueState::Scheduled);
    let cancelled: QueueItem = serde_json::from_value(
        env.post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+13125550124", "leadName": "Carl Cancel", "agentSettings": {"simulate": "outbound_qualification"}, "scheduledAt": later}),
        )
        .await,
    )
    .unwrap();
    env.post(&format!("/api/calls/queue/{}/dial-now", busy.id), json!({}))
        .await;
    let (status, r) = env
        .send(
            reqwest::Method::DELETE,
            &format!("/api/calls/queue/{}", cancelled.id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["state"], "cancelled");
    let busy_call = until("the busy dial ends", || async {
        env.all_calls().await.into_iter().find(|c| {
            c.queue_item_id.as_deref() == Some(busy.id.as_str()) && c.state == CallState::Ended
        })
    })
    .await;
    assert_eq!(busy_call.outcome.as_deref(), Some("busy"));
    assert_eq!(busy_call.to, "+13125550123");
    let retried = until("the busy item is rescheduled for a retry", || async {
        let q: QueueList = env.get("/api/calls/queue?all=true").await;
        q.items
            .into_iter()
            .find(|i| i.id == busy.id && i.attempts == 1 && i.state.is_waiting())
    })
    .await;
    assert_eq!(retried.last_result.as_deref(), Some("busy"));
    assert!(retried.scheduled_at.is_some());

    let now_item: QueueItem = serde_json::from_value(
        env.post(
            "/api/calls/initiate",
            json!({"phoneNumber": "+13125550125", "leadName": "Dana Dial", "campaignId": "Spring buyers", "agentSettings": {"simulate": "outbound_qualification"}}),
        )
        .await,
    )
    .unwrap();
    let dialed = until("the scheduler dials the due item", || async {
        env.active()
            .await
            .into_iter()
            .find(|c| c.queue_item_id.as_deref() == Some(now_item.id.as_str()))
    })
    .await;
    assert_eq!(dialed.lead.name.as_deref(), Some("Dana Dial"));
    let done = until("the dialed call ends and its item is done", || async {
        let q: QueueList = env.get("/api/calls/queue?all=true").await;
        q.items
            .into_iter()
            .find(|i| i.id == now_item.id && i.state == QueueState::Done)
    })
    .await;
    assert_eq!(done.attempts, 1);
    let q: QueueList = env.get("/api/calls/queue?all=true").await;
    assert!(q
        .items
        .iter()
        .any(|i| i.id == cancelled.id && i.state == QueueState::Cancelled));
    assert!(
        !env.all_calls()
            .await
            .iter()
            .any(|c| c.queue_item_id.as_deref() == Some(cancelled.id.as_str())),
        "a cancelled item was dialed"
    );
    assert!(env.events().iter().any(|(_, e)| matches!(e, StreamEvent::QueueUpdated { item } if item.id == cancelled.id && item.state == QueueState::Cancelled)));

    // ---- a few untouched calls, then analytics add up ----
    for name in ["inbound_viewing", "frustrated_caller", "after_hours"] {
        sim.spawn_scenario(name).unwrap();
    }
    until("every call has ended", || async {
        let calls = env.all_calls().await;
        (calls.len() == 6
            && calls
                .iter()
                .all(|c| c.state == CallState::Ended && c.cost.is_some()))
        .then_some(())
    })
    .await;
    let calls = env.all_calls().await;
    let analytics: Analytics = env.get("/api/calls/analytics").await;
    assert_eq!(analytics.total_calls, 6);
    assert_eq!(analytics.inbound_calls, 4);
    assert_eq!(analytics.outbound_calls, 2);
    assert_eq!(analytics.outcomes.values().sum::<u64>(), 6);
    assert_eq!(analytics.completed_calls + analytics.missed_calls, 6);
    assert_eq!(analytics.missed_calls, 1, "{:?}", analytics.outcomes);
    assert_eq!(analytics.takeovers, 1);
    assert_eq!(analytics.outcomes.get("ended_by_supervisor"), Some(&1));
    let cost: f64 = calls.iter().filter_map(|c| c.cost).sum();
    assert!(
        (analytics.total_cost - cost).abs() < 1e-6,
        "{} vs {cost}",
        analytics.total_cost
    );
    for c in &calls {
        let outcome = c.outcome.clone().unwrap();
        assert!(analytics.outcomes.contains_key(&outcome));
    }
    sim.stop();
    if let Some(r) = env.running.take() {
        r.shutdown().await;
    }
}

/// Kills the child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_simulate_command_shows_calls_within_seconds() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\n[[gateway.tokens]]\nname = \"sup\"\ntoken = \"{TOKEN}\"\norg = \"demo\"\nrole = \"supervisor\"\n"
        ),
    )
    .unwrap();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join("cw.db"))
            .arg("--log-file")
            .arg(dir.path().join("cw.log"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--simulate",
                "--seed",
                "4",
                "--calls-per-minute",
                "10",
                "--speed",
                "5",
            ])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("callwatch binary runs"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stderr).lines() {
            let line = line.ok()?;
            if let Some(rest) = line.strip_prefix("callwatch gateway listening on ") {
                return rest.split_whitespace().next().map(str::to_string);
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the gateway announces its address");
    let http = reqwest::Client::new();
    let calls = until("live simulated calls", || async {
        let resp = http
            .get(format!("{url}/api/calls/active"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        let list: CallList = resp.json().await.ok()?;
        (list.calls.len() >= 5).then_some(list.calls)
    })
    .await;
    // Seeded calls are mid-conversation: their transcripts already have lines.
    until("calls with transcript lines", || async {
        let list: CallList = http
            .get(format!("{url}/api/calls/active"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let mut with_lines = 0;
        for c in &list.calls {
            let t: Transcript = http
                .get(format!("{url}/api/calls/{}/transcript", c.id))
                .bearer_auth(TOKEN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            if !t.entries.is_empty() {
                with_lines += 1;
            }
        }
        (with_lines >= 5).then_some(())
    })
    .await;
    assert!(calls.len() >= 5);
    let a: Analytics = http
        .get(format!("{url}/api/calls/analytics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(a.total_calls >= 5 && !a.intents.is_empty(), "{a:?}");
}

/// Simulated calls live in the gateway's process: a restart must not leave the previous
/// run's calls active forever. And a simulated floor has an outbound campaign whose queue
/// items get dialed through the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_ends_orphaned_simulated_calls_and_the_campaign_dials_its_queue() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("callwatch.db");
    let sim = SimulatorOptions {
        seed: Some(11),
        calls_per_minute: Some(6.0),
        speed: Some(20.0),
        scenarios: None,
        max_concurrent: None,
    };
    let options = || {
        let config = GatewayConfig::default().with_token("sup", TOKEN, "acme", Role::Supervisor);
        GatewayOptions::new(config, db.clone())
    };
    let http = reqwest::Client::new();
    let get = |base: String, path: &'static str| {
        let http = http.clone();
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };

    let first = start_gateway(options(), Some(&sim)).await.unwrap();
    let base = first.url();
    let before: Vec<String> = until("live simulated calls", || async {
        let v = get(base.clone(), "/api/calls/active").await;
        let ids: Vec<String> = v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        (ids.len() >= 3).then_some(ids)
    })
    .await;
    // The campaign stocks the queue, and the scheduler dials its due items as outbound calls.
    until("queued campaign leads", || async {
        let v = get(base.clone(), "/api/calls/queue").await;
        let items: Vec<QueueItem> = serde_json::from_value(v["items"].clone()).unwrap();
        (items.iter().filter(|i| i.state.is_waiting()).count() >= 3).then_some(())
    })
    .await;
    until("a campaign lead dialed", || async {
        let v = get(base.clone(), "/api/calls/active").await;
        let calls: Vec<Call> = serde_json::from_value(v["calls"].clone()).unwrap();
        calls
            .iter()
            .any(|c| c.queue_item_id.is_some())
            .then_some(())
    })
    .await;
    first.shutdown().await;

    let second = start_gateway(options(), Some(&sim)).await.unwrap();
    let base = second.url();
    let active: Vec<Call> =
        serde_json::from_value(get(base.clone(), "/api/calls/active").await["calls"].clone())
            .unwrap();
    assert!(
        active.iter().all(|c| !before.contains(&c.id)),
        "calls of the stopped run are still active"
    );
    for id in &before {
        let v = http
            .get(format!("{base}/api/calls/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json::<Call>()
            .await
            .unwrap();
        assert_eq!(v.state, CallState::Ended);
        let outcome = v.outcome.as_deref().unwrap_or_default();
        // Either it ended on its own before the stop, or it was interrupted by it.
        assert!(!outcome.is_empty());
    }
    let analytics: Analytics =
        serde_json::from_value(get(base.clone(), "/api/calls/analytics").await).unwrap();
    assert!(analytics.outcomes.get("interrupted").copied().unwrap_or(0) >= 1);
    second.shutdown().await;
}
