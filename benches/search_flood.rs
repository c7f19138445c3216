//! Search flood benchmark: does a flood of history searches stall ingest?
//!
//! Builds a database of ~65k transcript lines through a real gateway (signed
//! `POST /api/ingest` on 127.0.0.1), then measures signed-ingest acknowledgement latency
//! (p50/p99) idle, and again while 32 clients send `GET /api/calls?q=...` with one viewer
//! token: once waiting `Retry-After` after a 429, once asking again at once. Prints each
//! with its ratio to idle (goal: flood p99 within 3x of idle).
//! Run with `cargo bench --bench search_flood`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use callwatch::core::model::Role;
use callwatch::gateway::ingest::signature_header;
use callwatch::gateway::{start, GatewayConfig, GatewayOptions};
use serde_json::{json, Value};

const SECRET: &str = "whsec_bench";
const VIEWER: &str = "tok_bench_viewer";
const CALLS: usize = 1_300;
const LINES_PER_CALL: usize = 50;
const SAMPLES: usize = 2_000;
/// One delivery per this interval: each measurement spans seconds (not the fraction of a
/// second 400 back-to-back deliveries took, where one checkpoint or index merge was the
/// p99 whether there was a flood or not).
const PACE: Duration = Duration::from_millis(2);
const SETTLE: Duration = Duration::from_secs(5);
const FLOODERS: usize = 32;

const WORDS: &[&str] = &[
    "I", "would", "like", "to", "know", "why", "my", "bill", "doubled", "this", "month", "and",
    "whether", "the", "refund", "arrives", "before", "Friday", "invoice", "account", "number",
    "please", "transfer", "manager", "cancel", "plan", "upgrade", "address",
];

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<u16> {
    let raw = serde_json::to_vec(body)?;
    let t = chrono::Utc::now().timestamp();
    let r = http
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", "bench")
        .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await?;
    Ok(r.status().as_u16())
}

fn line(call: usize, n: usize) -> String {
    (0..12)
        .map(|k| WORDS[(call * 7 + n * 13 + k * 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

async fn load(http: &reqwest::Client, url: &str, from: usize, to: usize) -> anyhow::Result<()> {
    for c in from..to {
        let pcid = format!("call-{c}");
        let mut batch = vec![json!({"id": format!("s-{c}"), "type": "call.started",
            "provider_call_id": pcid, "direction": "inbound",
            "from": format!("+1415555{c:04}"), "to": "+14155550000",
            "lead": {"name": format!("Caller {c}")}})];
        for n in 0..LINES_PER_CALL {
            batch.push(
                json!({"id": format!("t-{c}-{n}"), "type": "transcript.final",
                "provider_call_id": pcid, "utterance_id": format!("u{n}"),
                "speaker": if n % 2 == 0 { "caller" } else { "ai" }, "text": line(c, n)}),
            );
        }
        let status = post(http, url, &Value::Array(batch)).await?;
        anyhow::ensure!(status == 200, "loading call {c}: {status}");
    }
    Ok(())
}

/// Acknowledgement latency of `SAMPLES` signed single-event deliveries, one at a time,
/// at most one per `PACE`.
async fn measure(http: &reqwest::Client, url: &str, tag: &str) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(SAMPLES);
    let mut pace = tokio::time::interval(PACE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..SAMPLES {
        pace.tick().await;
        let c = i % CALLS;
        let ev = json!({"id": format!("{tag}-{i}"), "type": "transcript.final",
            "provider_call_id": format!("call-{c}"), "utterance_id": format!("{tag}-{i}"),
            "speaker": "caller", "text": line(c, i)});
        let started = Instant::now();
        let status = post(http, url, &ev).await?;
        out.push(started.elapsed());
        anyhow::ensure!(status == 200, "ingest answered {status}");
    }
    out.sort();
    Ok(out)
}

/// Ingest latency while `FLOODERS` clients search with one viewer token. Clients that get
/// 429 wait its `Retry-After` when `honour_retry_after`, else ask again at once (then the
/// flood is mostly a flood of 429 answers).
async fn flood(
    http: &reqwest::Client,
    url: &str,
    honour_retry_after: bool,
) -> anyhow::Result<Vec<Duration>> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, limited, slowest) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    // Common words, a phrase, a miss, and two characters (too short for the index: a scan).
    let queries = [
        "refund",
        "doubled this",
        "zebra",
        "my bill",
        "Caller 12",
        "hi",
    ];
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|k| {
            let (http, url, stop) = (http.clone(), url.to_string(), stop.clone());
            let (ok, limited, slowest) = (ok.clone(), limited.clone(), slowest.clone());
            tokio::spawn(async move {
                let mut i = k;
                while !stop.load(Ordering::Relaxed) {
                    let q = queries[i % queries.len()];
                    i += 1;
                    let t = Instant::now();
                    let r = http
                        .get(format!("{url}/api/calls"))
                        .query(&[("q", q), ("status", "all"), ("limit", "100")])
                        .bearer_auth(VIEWER)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            ok.fetch_add(1, Ordering::Relaxed);
                            slowest.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                        }
                        Ok(r) if r.status() == 429 => {
                            limited.fetch_add(1, Ordering::Relaxed);
                            let wait = r
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                                .unwrap_or(1);
                            if honour_retry_after {
                                tokio::time::sleep(Duration::from_secs(wait)).await;
                            }
                        }
                        other => eprintln!("search answered {:?}", other.map(|r| r.status())),
                    }
                }
            })
        })
        .collect();
    // Let the flood reach full speed first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let tag = if honour_retry_after { "polite" } else { "spin" };
    let samples = measure(http, url, tag).await?;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.await;
    }
    println!(
        "flood ({FLOODERS} clients, {}): {} searches answered 200 ({:.0}/s, slowest {:.1} ms), {} answered 429",
        if honour_retry_after { "waiting Retry-After after a 429" } else { "asking again at once after a 429" },
        ok.load(Ordering::Relaxed),
        ok.load(Ordering::Relaxed) as f64 / secs,
        slowest.load(Ordering::Relaxed) as f64 / 1000.0,
        limited.load(Ordering::Relaxed)
    );
    Ok(samples)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = GatewayConfig::default()
        .with_token("viewer", VIEWER, "bench", Role::Viewer)
        .with_custom_integration("bench", "bench", SECRET, None);
    let running = start(GatewayOptions::new(config, dir.path().join("bench.db"))).await?;
    let url = running.url();
    let http = reqwest::Client::new();

    let started = Instant::now();
    let loaders: Vec<_> = (0..4)
        .map(|k| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { load(&http, &url, k * CALLS / 4, (k + 1) * CALLS / 4).await })
        })
        .collect();
    for l in loaders {
        l.await??;
    }
    println!(
        "loaded {} transcript lines in {:.1} s",
        CALLS * LINES_PER_CALL,
        started.elapsed().as_secs_f64()
    );

    // The load leaves background work behind (WAL checkpoints, search-index merges): let it
    // settle, so that "idle" is idle.
    tokio::time::sleep(SETTLE).await;
    let idle = measure(&http, &url, "idle").await?;

    println!(
        "idle  ingest ack: p50 {:.2} ms  p99 {:.2} ms  ({SAMPLES} samples)",
        ms(pct(&idle, 0.5)),
        ms(pct(&idle, 0.99))
    );
    for honour_retry_after in [true, false] {
        let flood = flood(&http, &url, honour_retry_after).await?;
        let ratio = ms(pct(&flood, 0.99)) / ms(pct(&idle, 0.99)).max(0.001);
        println!(
            "  ingest ack: p50 {:.2} ms  p99 {:.2} ms  ({SAMPLES} samples); p99 flood/idle {ratio:.2}x (goal: within 3x) {}",
            ms(pct(&flood, 0.5)),
            ms(pct(&flood, 0.99)),
            if ratio <= 3.0 { "ok" } else { "MISSED" }
        );
    }
    running.shutdown().await;
    Ok(())
}
