//! Fan-out: M stream clients, a sender posting transcript lines at R lines/s into one call;
//! send -> client latency per line and client, and what never arrived. The same load
//! through the Node Socket.IO peer (`io.to(room).emit('transcript:update')` on a POST).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use futures::future::join_all;
use serde_json::json;
use tokio::sync::watch;

use crate::ingest::{call_started, line, post};
use crate::procs::{Gateway, NodePeer, VIEWER};
use crate::report::{fmt, ms_of_us, pct, Table};
use crate::ws::{fan_text, open_socketio, open_stream, Clock, Ready};
use crate::Settings;

const CALL: &str = "fan";

#[derive(Debug, Default)]
pub struct FanResult {
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    /// Lines the server accepted that some client never received as an event before the
    /// drain deadline (summed over clients; a resync's snapshot does not count as received).
    pub lost: u64,
    pub gaps: u64,
    pub resyncs: u64,
    pub client_errors: usize,
    pub send_errors: usize,
    /// Time from the last send until every client had every line (or the deadline).
    pub drain: Duration,
}

impl FanResult {
    fn summary(&self) -> String {
        format!(
            "p50 {:.1} / p99 {:.1} ms, lost {}",
            ms_of_us(self.p50_us),
            ms_of_us(self.p99_us),
            self.lost
        )
    }
}

enum Target {
    Callwatch(Gateway),
    Node(NodePeer),
}

async fn connect_all(target: &Target, clients: usize) -> anyhow::Result<Vec<Ready>> {
    let mut ready = Vec::with_capacity(clients);
    // In batches: a thousand handshakes at once would only measure the accept queue.
    for batch in (0..clients).collect::<Vec<_>>().chunks(100) {
        let opened = join_all(batch.iter().map(|_| async {
            match target {
                Target::Callwatch(gw) => open_stream(&gw.ws_url("/api/stream"), VIEWER).await,
                Target::Node(node) => open_socketio(&node.url, CALL).await,
            }
        }))
        .await;
        for r in opened {
            ready.push(r.context("a fan-out client could not connect")?);
        }
    }
    Ok(ready)
}

async fn run_one(
    target: Target,
    clients: usize,
    rate: f64,
    secs: Duration,
    settings: &Settings,
) -> anyhow::Result<FanResult> {
    let http = reqwest::Client::new();
    if let Target::Callwatch(gw) = &target {
        ensure!(post(&http, &gw.url, &call_started(CALL, "+14155550001")).await? == 200);
    }
    let ready = connect_all(&target, clients).await?;
    let lines = ((rate * secs.as_secs_f64()) as usize).max(1);
    let clock = Arc::new(Clock::new(lines));
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = ready
        .into_iter()
        .map(|r| tokio::spawn(r.run(clock.clone(), stop_rx.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // Catch up after a stall so the offered rate stays what the row says.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(lines);
    for i in 0..lines {
        tick.tick().await;
        let (http, clock) = (http.clone(), clock.clone());
        let send = match &target {
            Target::Callwatch(gw) => {
                let url = gw.url.clone();
                tokio::spawn(async move {
                    let ev = line(&format!("fan-{i}"), CALL, &fan_text(i));
                    clock.mark_sent(i);
                    matches!(post(&http, &url, &ev).await, Ok(200))
                })
            }
            Target::Node(node) => {
                let url = format!("{}/emit", node.url);
                tokio::spawn(async move {
                    let body = json!({"callId": CALL, "entry": {"id": format!("fan-{i}"),
                        "speaker": "caller", "text": fan_text(i),
                        "timestamp": chrono::Utc::now().to_rfc3339()}});
                    clock.mark_sent(i);
                    let r = http.post(url).json(&body).send().await;
                    r.is_ok_and(|r| r.status() == 200)
                })
            }
        };
        sends.push(send);
    }
    let mut send_errors = 0;
    for s in join_all(sends).await {
        if !matches!(s, Ok(true)) {
            send_errors += 1;
        }
    }
    // A line the server refused was never broadcast: not a fan-out loss (listed apart).
    let acked = (lines - send_errors) as u64;
    let sent_done = Instant::now();
    let want = clients as u64 * acked;
    let deadline = sent_done + settings.fan_drain;
    while clock.received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = sent_done.elapsed();
    let _ = stop_tx.send(true);
    let mut result = FanResult {
        send_errors,
        drain,
        ..FanResult::default()
    };
    let mut all: Vec<u32> = Vec::with_capacity(clients * lines);
    for t in join_all(tasks).await {
        let stats = t?;
        result.lost += acked.saturating_sub(stats.received);
        result.gaps += stats.gaps;
        result.resyncs += stats.resyncs;
        result.client_errors += usize::from(stats.error.is_some());
        all.extend(stats.latencies_us);
    }
    all.sort_unstable();
    result.p50_us = pct(&all, 0.5);
    result.p99_us = pct(&all, 0.99);
    result.max_us = all.last().copied().unwrap_or(0);
    drop(target);
    Ok(result)
}

fn problems(r: &FanResult) -> Option<String> {
    let mut p = Vec::new();
    if r.send_errors > 0 {
        p.push(format!("{} sends failed", r.send_errors));
    }
    if r.gaps > 0 {
        p.push(format!("{} seq gaps", r.gaps));
    }
    if r.resyncs > 0 {
        p.push(format!("{} resyncs", r.resyncs));
    }
    if r.client_errors > 0 {
        p.push(format!("{} clients disconnected", r.client_errors));
    }
    (!p.is_empty()).then(|| p.join(", "))
}

pub async fn run(settings: &Settings, table: &mut Table) -> anyhow::Result<()> {
    let node_skip = crate::procs::node_ready().err();
    if let Some(why) = &node_skip {
        table.note(format!("Node peer skipped: {why} (needs Node 18+ and npm)"));
    }
    let mut loads: Vec<(usize, f64, bool)> = Vec::new();
    for rate in [50.0, 200.0] {
        for clients in [100, 500, 1000] {
            loads.push((clients, rate, true));
        }
    }
    // The goal's own load; Node already falls seconds behind at 200/s, so callwatch only.
    loads.push((1000, 1000.0, false));
    for (clients, rate, with_node) in loads {
        let label = format!("fan-out {clients} clients @ {rate:.0}/s");
        // A million frames a second is more than the clients' side of this box can read for
        // long: half the time at the top load.
        let secs = if rate > 500.0 {
            settings.fan_secs / 2
        } else {
            settings.fan_secs
        };
        let gw = Gateway::start(&settings.bin, None)?;
        let cw = run_one(Target::Callwatch(gw), clients, rate, secs, settings).await?;
        let node = if with_node && node_skip.is_none() {
            let peer = NodePeer::start()?;
            Some(run_one(Target::Node(peer), clients, rate, secs, settings).await?)
        } else {
            None
        };
        let lost_ok = if cw.lost == 0 { "" } else { "; LOST FRAMES" };
        match &node {
            Some(n) => {
                let met = cw.p99_us <= n.p99_us && cw.p50_us <= n.p50_us && cw.lost == 0;
                let verdict = if met {
                    "met".to_string()
                } else {
                    format!(
                        "missed: p50 {:.2}x, p99 {:.2}x Node's{lost_ok}",
                        f64::from(cw.p50_us) / f64::from(n.p50_us.max(1)),
                        f64::from(cw.p99_us) / f64::from(n.p99_us.max(1))
                    )
                };
                table.push(
                    format!("{label}: callwatch"),
                    cw.summary(),
                    "≤ Node, lost 0",
                    verdict,
                );
                table.push(
                    format!("{label}: Node Socket.IO"),
                    n.summary(),
                    "",
                    if n.lost > 0 || n.drain > Duration::from_secs(1) {
                        format!(
                            "(last line {:.1} s after the last send)",
                            n.drain.as_secs_f64()
                        )
                    } else {
                        String::new()
                    },
                );
                table.info(
                    format!("{label}: ratio callwatch/Node (p50, p99)"),
                    format!(
                        "{}x, {}x",
                        fmt(f64::from(cw.p50_us) / f64::from(n.p50_us.max(1))),
                        fmt(f64::from(cw.p99_us) / f64::from(n.p99_us.max(1)))
                    ),
                );
                if let Some(p) = problems(n) {
                    table.note(format!("{label}, Node: {p}"));
                }
            }
            None => {
                let p99 = ms_of_us(cw.p99_us);
                let verdict = if p99 <= 50.0 && cw.lost == 0 {
                    "met".to_string()
                } else {
                    format!("missed: p99 {:.2}x the goal{lost_ok}", p99 / 50.0)
                };
                table.push(
                    format!("{label}: callwatch"),
                    cw.summary(),
                    "p99 ≤ 50 ms, lost 0",
                    verdict,
                );
            }
        }
        if let Some(p) = problems(&cw) {
            table.note(format!("{label}, callwatch: {p}"));
        }
    }
    Ok(())
}
