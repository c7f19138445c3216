//! Signed ingest: one event per request from N connections at once, as fast as the gateway
//! answers; throughput and acknowledgement latency.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use callwatch::gateway::ingest::signature_header;
use serde_json::{json, Value};

use crate::procs::{Gateway, INTEGRATION, SECRET};
use crate::report::{ms_of_us, pct, Table};
use crate::Settings;

const CALLS: usize = 100;

/// A signed POST /api/ingest; the answer's status.
pub async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<u16> {
    let raw = serde_json::to_vec(body)?;
    let t = chrono::Utc::now().timestamp();
    let r = http
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", INTEGRATION)
        .header("Callwatch-Signature", signature_header(SECRET, t, &raw))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await?;
    let status = r.status().as_u16();
    let _ = r.bytes().await;
    Ok(status)
}

pub fn call_started(pcid: &str, from: &str) -> Value {
    json!({"id": format!("start-{pcid}"), "type": "call.started", "provider_call_id": pcid,
        "direction": "inbound", "from": from, "to": "+14155550000",
        "lead": {"name": format!("Bench {pcid}")}, "state": "in_progress"})
}

pub fn line(id: &str, pcid: &str, text: &str) -> Value {
    json!({"id": id, "type": "transcript.final", "provider_call_id": pcid,
        "utterance_id": id, "speaker": "caller", "text": text})
}

pub async fn run(settings: &Settings, table: &mut Table) -> anyhow::Result<()> {
    for connections in [16, 64] {
        let gw = Gateway::start(&settings.bin, None)?;
        let http = reqwest::Client::new();
        let calls: Vec<Value> = (0..CALLS)
            .map(|c| call_started(&format!("ing-{c}"), &format!("+1415555{c:04}")))
            .collect();
        ensure!(post(&http, &gw.url, &Value::Array(calls)).await? == 200);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|w| {
                // A client each: one connection each, as N independent senders would have.
                let http = reqwest::Client::new();
                let (url, stop) = (gw.url.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut lat: Vec<u32> = Vec::new();
                    let mut failed = 0u64;
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let id = format!("w{w}-{i}");
                        let pcid = format!("ing-{}", (w * 7 + i) % CALLS);
                        let ev = line(&id, &pcid, "I would like to know why my bill doubled");
                        let t = Instant::now();
                        match post(&http, &url, &ev).await {
                            Ok(200) => lat.push(t.elapsed().as_micros() as u32),
                            _ => failed += 1,
                        }
                        i += 1;
                    }
                    (lat, failed)
                })
            })
            .collect();
        tokio::time::sleep(settings.ingest_secs).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut failed = 0;
        for w in workers {
            let (lat, f) = w.await?;
            all.extend(lat);
            failed += f;
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_unstable();
        let rate = all.len() as f64 / secs;
        let label = format!("ingest, {connections} connections");
        table.at_least(format!("{label}: events/s"), rate, 20_000.0, "ev/s");
        table.info(
            format!("{label}: ack p50"),
            format!("{:.2} ms", ms_of_us(pct(&all, 0.5))),
        );
        table.at_most(
            format!("{label}: ack p99"),
            ms_of_us(pct(&all, 0.99)),
            10.0,
            "ms",
        );
        if failed > 0 {
            table.note(format!("{label}: {failed} requests failed"));
        }
        drop(gw);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}
