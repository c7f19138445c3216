//! Scale-out benchmark: signed ingest throughput and stream latency for one gateway on
//! SQLite, and for one and three gateways on PostgreSQL + NATS JetStream (the machine's
//! 127.0.0.1:5432 and :4222; a fresh database and stream each run, removed after).
//!
//! Each setup runs real `callwatch serve` processes. WORKERS concurrent senders post
//! EVENTS signed `transcript.final` events (one per request) spread round-robin over the
//! instances; one websocket client on the LAST instance (so with three instances most
//! events cross NATS to reach it) measures the time from a request being sent to its line
//! arriving on the stream. Prints a table.
//! Run with `cargo bench --bench scaleout` (the PostgreSQL rows are skipped, with a note,
//! when the services are down).

#[path = "../tests/support/cluster.rs"]
mod cluster;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callwatch::core::protocol::{ServerFrame, StreamEvent};
use callwatch::gateway::ingest::signature_header;
use futures::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "tok_bench_supervisor";
const SECRET: &str = "whsec_bench";
const CALLS: usize = 20;
const EVENTS: usize = 4000;
const WORKERS: usize = 16;

struct Instance {
    child: std::process::Child,
    url: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(config: &Path, db: &Path, log: &Path) -> anyhow::Result<Instance> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0", "--log-file"])
        .arg(log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            std::thread::spawn(move || for _ in lines {});
            return Ok(Instance { child, url });
        }
        eprintln!("{line}");
    }
    let _ = child.kill();
    let _ = child.wait();
    anyhow::bail!("callwatch serve did not start")
}

fn config(dir: &Path, shared: Option<(&str, &cluster::TestStream)>) -> anyhow::Result<PathBuf> {
    let mut text = format!(
        r#"[gateway]

[[gateway.tokens]]
name = "bench"
token = "{TOKEN}"
org = "acme"
role = "supervisor"

[[gateway.integrations]]
name = "acme-voice"
kind = "custom"
org = "acme"
secret = "{SECRET}"

[gateway.limits]
ingest_per_minute_per_address = 100000000
ingest_per_minute_per_integration = 100000000
"#
    );
    if let Some((db_url, ts)) = shared {
        text.push_str(&format!(
            r#"
[gateway.store]
kind = "postgres"
url = "{db_url}"

[gateway.bus]
kind = "nats"
url = "{nats}"
stream = "{stream}"
subject_prefix = "{prefix}"
"#,
            nats = cluster::NATS_URL,
            stream = ts.stream,
            prefix = ts.subject_prefix
        ));
    }
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn ingest(http: &reqwest::Client, url: &str, body: serde_json::Value) -> anyhow::Result<()> {
    let raw = serde_json::to_vec(&body)?;
    let t = chrono::Utc::now().timestamp();
    let r = http
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", "acme-voice")
        .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "ingest: {}", r.status());
    Ok(())
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

async fn run(urls: &[String]) -> anyhow::Result<Figures> {
    let http = reqwest::Client::new();
    for call in 0..CALLS {
        ingest(
            &http,
            &urls[0],
            json!({"id": format!("start-{call}"), "type": "call.started",
            "provider_call_id": format!("pc-{call}"), "direction": "inbound",
            "from": format!("+1555000{call:04}"), "to": "+15559990000", "state": "in_progress"}),
        )
        .await?;
    }
    // The watcher: when each line arrives on the last instance's stream.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let ws_url = format!("{}/api/stream", urls[urls.len() - 1].replace("http", "ws"));
    let mut req = ws_url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let (s2, l2) = (sent.clone(), latencies.clone());
    let watcher = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            if let Ok(ServerFrame::Event {
                event: StreamEvent::TranscriptAppended { entry },
                ..
            }) = serde_json::from_str::<ServerFrame>(&text)
            {
                let at = Instant::now();
                if let Some(t0) = s2
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&entry.text)
                {
                    l2.lock().unwrap_or_else(|e| e.into_inner()).push(at - *t0);
                }
            }
        }
    });
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let (http, urls, sent) = (http.clone(), urls.to_vec(), sent.clone());
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while i < EVENTS {
                let (call, text) = (i % CALLS, format!("line {i}"));
                sent.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(text.clone(), Instant::now());
                let body = json!({"id": format!("ev-{i}"), "type": "transcript.final",
                    "provider_call_id": format!("pc-{call}"), "utterance_id": format!("u-{i}"),
                    "speaker": "caller", "text": text});
                ingest(&http, &urls[i % urls.len()], body).await?;
                i += WORKERS;
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().unwrap_or_else(|e| e.into_inner()).len() < EVENTS
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let mut l = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    anyhow::ensure!(
        l.len() == EVENTS,
        "only {} of {EVENTS} lines reached the stream",
        l.len()
    );
    l.sort();
    Ok(Figures {
        per_sec: EVENTS as f64 / elapsed.as_secs_f64(),
        p50: l[l.len() / 2],
        p99: l[l.len() * 99 / 100],
    })
}

async fn setup(instances: usize, shared: bool) -> anyhow::Result<Option<Figures>> {
    let dir = tempfile::tempdir()?;
    if !shared {
        let cfg = config(dir.path(), None)?;
        let one = spawn(&cfg, &dir.path().join("cw.db"), &dir.path().join("cw.log"))?;
        return Ok(Some(run(std::slice::from_ref(&one.url)).await?));
    }
    if !cluster::services_up("scaleout bench") {
        return Ok(None);
    }
    let db = cluster::TestDb::create().await;
    let ts = cluster::TestStream::new();
    let cfg = config(dir.path(), Some((&db.url, &ts)))?;
    let mut running = Vec::new();
    for i in 0..instances {
        running.push(spawn(
            &cfg,
            &dir.path().join(format!("unused{i}.db")),
            &dir.path().join(format!("cw{i}.log")),
        )?);
    }
    let urls: Vec<String> = running.iter().map(|i| i.url.clone()).collect();
    let result = run(&urls).await;
    drop(running);
    ts.delete().await;
    db.drop_now().await;
    result.map(Some)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    println!(
        "scale-out: {EVENTS} signed transcript.final events, {WORKERS} concurrent senders, \
         {CALLS} live calls; latency = request sent -> line on a websocket of the last instance"
    );
    println!("| setup | ingest events/s | stream p50 | stream p99 |");
    println!("|---|---:|---:|---:|");
    for (name, n, shared) in [
        ("SQLite, 1 instance", 1, false),
        ("PostgreSQL + NATS, 1 instance", 1, true),
        ("PostgreSQL + NATS, 3 instances", 3, true),
    ] {
        match setup(n, shared).await {
            Ok(Some(f)) => println!(
                "| {name} | {:.0} | {:.1} ms | {:.1} ms |",
                f.per_sec,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3
            ),
            Ok(None) => println!("| {name} | skipped: services down | | |"),
            Err(e) => println!("| {name} | failed: {e:#} | | |"),
        }
    }
    Ok(())
}
