//! Three `callwatch serve` processes on the machine's PostgreSQL and NATS JetStream: calls
//! are driven through one instance with signed ingest, stream clients watch on the other
//! two; the instance holding the scheduler lease (and one client) is killed with SIGKILL
//! mid-stream. Its client resumes on a survivor; both clients end with every transcript
//! line exactly once, as the REST API has it; and every queue item is dialled exactly once,
//! some by the first lease holder and the rest by its successor.
//!
//! Skipped with a message when PostgreSQL or NATS is down and CI is unset.

#[path = "support/cluster.rs"]
mod cluster;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callwatch::core::protocol::{ServerFrame, StreamEvent};
use callwatch::gateway::ingest::signature_header;
use cluster::{services_up, TestDb, TestStream, NATS_URL};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "tok_scaleout_supervisor";
const SECRET: &str = "whsec_scaleout";
const CALLS: usize = 6;
const LINES_PER_CALL: usize = 25;
const QUEUED_NOW: usize = 4;
const QUEUED_LATER: usize = 4;

// ---------------------------------------------------------------- processes ----

struct Instance {
    child: std::process::Child,
    url: String,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn spawn(config: &Path, log: PathBuf) -> Instance {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
            .args(["serve", "--config"])
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--log-file"])
            .arg(&log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run callwatch serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                // Keep draining stderr so the child never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Instance { child, url, log };
            }
            seen.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("callwatch serve did not start:\n{}", seen.join("\n"));
    }

    fn kill_9(&mut self) {
        // std's kill() is SIGKILL on unix: no shutdown path runs.
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    fn log_says(&self, what: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|s| s.contains(what))
    }
}

fn write_config(dir: &Path, db_url: &str, ts: &TestStream, control_url: &str) -> PathBuf {
    let path = dir.join("gateway.toml");
    let text = format!(
        r#"[gateway]

[[gateway.tokens]]
name = "sam"
token = "{TOKEN}"
org = "acme"
role = "supervisor"

[[gateway.integrations]]
name = "acme-voice"
kind = "custom"
org = "acme"
secret = "{SECRET}"
control_url = "{control_url}"

[gateway.queue]
max_attempts = 1
poll_secs = 1
dial_timeout_secs = 600

[gateway.store]
kind = "postgres"
url = "{db_url}"

[gateway.bus]
kind = "nats"
url = "{NATS_URL}"
stream = "{stream}"
subject_prefix = "{prefix}"
"#,
        stream = ts.stream,
        prefix = ts.subject_prefix,
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

async fn until<F, Fut>(what: &str, limit: Duration, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !ok().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------- the dial stand-in ----

/// The voice stack's control URL: counts dial requests per queue item.
async fn dial_counter() -> (String, Arc<Mutex<HashMap<String, u32>>>) {
    let dials: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let counted = dials.clone();
    let app = axum::Router::new().route(
        "/control",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counted = counted.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if v["action"] == "dial" {
                    let id = v["queue_item"]["id"].as_str().unwrap_or("?").to_string();
                    *counted.lock().unwrap().entry(id.clone()).or_default() += 1;
                    return axum::Json(json!({ "provider_call_id": format!("dial-{id}") }));
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/control"), dials)
}

// ------------------------------------------------------------ stream clients ----

/// What one console saw: every transcript line appended, counted, and its connections.
#[derive(Default)]
struct Seen {
    lines: BTreeMap<(String, u32), (String, u32)>,
    position: Option<(String, u64)>,
    connections: Vec<(String, bool)>,
    snapshots_after_first: u32,
}

/// Follows the stream on `urls[0]`; when that connection drops, resumes on the next url.
fn watch(urls: Vec<String>, seen: Arc<Mutex<Seen>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut which = 0;
        loop {
            let url = urls[which.min(urls.len() - 1)].clone();
            let position = seen.lock().unwrap().position.clone();
            let ws_url = match &position {
                Some((epoch, since)) => format!(
                    "{}/api/stream?epoch={epoch}&since={since}",
                    url.replace("http", "ws")
                ),
                None => format!("{}/api/stream", url.replace("http", "ws")),
            };
            let mut req = ws_url.into_client_request().unwrap();
            req.headers_mut()
                .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                which += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else {
                    continue;
                };
                let mut s = seen.lock().unwrap();
                match frame {
                    ServerFrame::Welcome {
                        epoch,
                        seq,
                        resumed,
                        ..
                    } => {
                        s.connections.push((url.clone(), resumed));
                        if !resumed {
                            s.position = Some((epoch, seq));
                        }
                    }
                    ServerFrame::Snapshot { snapshot } => {
                        if s.connections.len() > 1 {
                            s.snapshots_after_first += 1;
                        }
                        for c in snapshot.calls {
                            for e in c.transcript {
                                s.lines
                                    .insert((e.call_id.clone(), e.position), (e.text.clone(), 1));
                            }
                        }
                        s.position = Some((snapshot.epoch, snapshot.seq));
                    }
                    ServerFrame::Event { epoch, seq, event } => {
                        if let Some((_, last)) = &s.position {
                            assert_eq!(seq, last + 1, "a hole or a repeat in the stream");
                        }
                        s.position = Some((epoch, seq));
                        match event {
                            StreamEvent::TranscriptAppended { entry } => {
                                let slot = s
                                    .lines
                                    .entry((entry.call_id.clone(), entry.position))
                                    .or_insert((String::new(), 0));
                                slot.0 = entry.text;
                                slot.1 += 1;
                            }
                            StreamEvent::TranscriptRevised { entry } => {
                                if let Some(slot) =
                                    s.lines.get_mut(&(entry.call_id.clone(), entry.position))
                                {
                                    slot.0 = entry.text;
                                }
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
            // The instance went away: go to the next one.
            which += 1;
        }
    })
}

// -------------------------------------------------------------------- driver ----

async fn ingest(http: &reqwest::Client, url: &str, body: Value) {
    let raw = serde_json::to_vec(&body).unwrap();
    for _ in 0..50 {
        let t = chrono::Utc::now().timestamp();
        let r = http
            .post(format!("{url}/api/ingest"))
            .header("Callwatch-Integration", "acme-voice")
            .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
            .header("content-type", "application/json")
            .body(raw.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => panic!(
                "ingest refused: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("ingest never accepted");
}

async fn get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    http.get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn queue(
    http: &reqwest::Client,
    url: &str,
    n: usize,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let mut body = json!({"leadId": format!("L-{i}"), "leadName": "Kim Ode", "phoneNumber": format!("+1555010{:04}", ids.len() + 100 * usize::from(at.is_some()))});
        if let Some(t) = at {
            body["scheduledAt"] = json!(t.to_rfc3339());
        }
        let r = http
            .post(format!("{url}/api/calls/initiate"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "initiate: {}", r.status());
        let v: Value = r.json().await.unwrap();
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_survive_a_kill_9_mid_stream() {
    if !services_up("three gateways on PostgreSQL + NATS") {
        return;
    }
    let db = TestDb::create().await;
    let ts = TestStream::new();
    let dir = tempfile::tempdir().unwrap();
    let (control_url, dials) = dial_counter().await;
    let config = write_config(dir.path(), &db.url, &ts, &control_url);
    let http = reqwest::Client::new();

    // B starts first and takes the scheduler lease; then A (ingest) and C.
    let mut b = Instance::spawn(&config, dir.path().join("b.log"));
    until("B holds the lease", Duration::from_secs(15), || async {
        b.log_says("lease acquired")
    })
    .await;
    let a = Instance::spawn(&config, dir.path().join("a.log"));
    let c = Instance::spawn(&config, dir.path().join("c.log"));

    // Clients: one on B (moves to C when B dies), one on C.
    let on_b = Arc::new(Mutex::new(Seen::default()));
    let on_c = Arc::new(Mutex::new(Seen::default()));
    let wb = watch(vec![b.url.clone(), c.url.clone()], on_b.clone());
    let wc = watch(vec![c.url.clone()], on_c.clone());
    until(
        "both clients connected",
        Duration::from_secs(10),
        || async {
            !on_b.lock().unwrap().connections.is_empty()
                && !on_c.lock().unwrap().connections.is_empty()
        },
    )
    .await;

    // Queue items: some due now (B dials them), some due after B is gone.
    let later = chrono::Utc::now() + chrono::Duration::seconds(8);
    let now_ids = queue(&http, &a.url, QUEUED_NOW, None).await;
    let later_ids = queue(&http, &a.url, QUEUED_LATER, Some(later)).await;
    until(
        "B dialled the due items",
        Duration::from_secs(15),
        || async { dials.lock().unwrap().len() >= QUEUED_NOW },
    )
    .await;

    // Calls through A; B is killed halfway.
    for call in 0..CALLS {
        ingest(
            &http,
            &a.url,
            json!({"id": format!("start-{call}"), "type": "call.started",
            "provider_call_id": format!("pc-{call}"), "direction": "inbound",
            "from": format!("+1555000{call:04}"), "to": "+15559990000", "state": "in_progress"}),
        )
        .await;
    }
    for line in 0..LINES_PER_CALL {
        if line == LINES_PER_CALL / 2 {
            b.kill_9();
        }
        let batch: Vec<Value> = (0..CALLS)
            .map(|call| {
                json!({"id": format!("line-{call}-{line}"), "type": "transcript.final",
                    "provider_call_id": format!("pc-{call}"), "utterance_id": format!("u-{line}"),
                    "speaker": if line % 2 == 0 { "caller" } else { "ai" },
                    "text": format!("call {call} line {line}")})
            })
            .collect();
        ingest(&http, &a.url, Value::Array(batch)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for call in 0..CALLS {
        ingest(
            &http,
            &a.url,
            json!({"id": format!("end-{call}"), "type": "call.ended",
            "provider_call_id": format!("pc-{call}"), "outcome": "completed"}),
        )
        .await;
    }

    // The transcripts as the API has them (from a survivor).
    let mut expected = BTreeMap::new();
    let history = get(&http, &c.url, "/api/calls?limit=100").await;
    let calls = history["calls"].as_array().cloned().unwrap_or_default();
    assert_eq!(calls.len(), CALLS, "{history}");
    for call in &calls {
        let id = call["id"].as_str().unwrap();
        let t = get(&http, &c.url, &format!("/api/calls/{id}/transcript")).await;
        for e in t["entries"].as_array().expect("transcript entries") {
            expected.insert(
                (id.to_string(), e["position"].as_u64().unwrap() as u32),
                e["text"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(expected.len(), CALLS * LINES_PER_CALL);

    for (name, seen) in [("client of B, then C", &on_b), ("client of C", &on_c)] {
        until(
            &format!("{name} has every line"),
            Duration::from_secs(15),
            || async { seen.lock().unwrap().lines.len() >= expected.len() },
        )
        .await;
        let s = seen.lock().unwrap();
        let got: BTreeMap<_, _> = s
            .lines
            .iter()
            .map(|(k, (t, _))| (k.clone(), t.clone()))
            .collect();
        assert_eq!(got, expected, "{name}: not the API's transcript");
        let twice: Vec<_> = s.lines.iter().filter(|(_, (_, n))| *n != 1).collect();
        assert!(
            twice.is_empty(),
            "{name}: lines not seen exactly once: {twice:?}"
        );
        assert_eq!(
            s.snapshots_after_first, 0,
            "{name}: a reconnect fell back to a snapshot"
        );
    }
    {
        let s = on_b.lock().unwrap();
        assert!(
            s.connections.len() >= 2,
            "the client of B never reconnected"
        );
        let (url, resumed) = s.connections.last().unwrap();
        assert_eq!(url, &c.url);
        assert!(
            resumed,
            "the client of B was not resumed on C: {:?}",
            s.connections
        );
    }

    // The scheduler moved: the later items are dialled by a survivor, every item once.
    until(
        "a survivor dialled the later items",
        Duration::from_secs(20),
        || async { dials.lock().unwrap().len() >= QUEUED_NOW + QUEUED_LATER },
    )
    .await;
    assert!(a.log_says("lease acquired") || c.log_says("lease acquired"));
    // One more scheduler round on the new holder must not dial anything again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dials = dials.lock().unwrap().clone();
    for id in now_ids.iter().chain(&later_ids) {
        assert_eq!(
            dials.get(id),
            Some(&1),
            "queue item {id} dialled {:?} times",
            dials.get(id)
        );
    }
    assert_eq!(dials.len(), QUEUED_NOW + QUEUED_LATER);

    wb.abort();
    wc.abort();
    drop((a, b, c));
    ts.delete().await;
    db.drop_now().await;
}
