//! Simulated floors: the bytes a console receives on a busy floor (~265 live calls), and
//! the gateway's RSS over time with a flat floor of 1,000 live calls.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::procs::{Floor, Gateway, SUPERVISOR, VIEWER};
use crate::report::Table;
use crate::ws::connect;
use crate::Settings;

/// ~265 live calls (200 arrivals a simulated minute, calls of ~1.3 simulated minutes) at
/// 4x speed: ~1,300 events/s, the floor issue 12's 566 KB/s (~408 B an event) was seen on.
pub const BUSY: Floor = Floor {
    calls_per_minute: 200.0,
    speed: 4.0,
    max_concurrent: 1000,
    seed: 7,
};

/// 1,000 live calls all the time: arrivals outpace endings, the cap holds the floor flat.
pub const FLAT_1000: Floor = Floor {
    calls_per_minute: 1000.0,
    speed: 1.0,
    max_concurrent: 1000,
    seed: 3,
};

/// The org's active calls (id, state).
pub async fn active_calls(gw: &Gateway) -> anyhow::Result<Vec<(String, String)>> {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/api/calls/active", gw.url))
        .bearer_auth(SUPERVISOR)
        .send()
        .await?
        .json()
        .await?;
    Ok(v["calls"]
        .as_array()
        .context("no calls in /api/calls/active")?
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("state"))
        })
        .collect())
}

/// Starts the busy floor and waits until it is busy.
pub async fn start_busy(settings: &Settings) -> anyhow::Result<(Gateway, usize)> {
    let gw = Gateway::start(&settings.bin, Some(BUSY))?;
    tokio::time::sleep(settings.floor_warmup).await;
    let live = active_calls(&gw).await?.len();
    Ok((gw, live))
}

/// What one console-like client received over the window.
struct Received {
    /// Bytes a second (TCP).
    rate: f64,
    secs: f64,
    events: u64,
    own_lines: u64,
    foreign_lines: u64,
    /// Frame bytes by what they carry ("delta call_updated", "event analytics_updated"...).
    by_kind: BTreeMap<String, u64>,
    subscription_refused: Option<String>,
}

/// One client behaving like a console that shows one call: it says so (`watching`) and,
/// where the gateway knows subscriptions, subscribes to that call only; then counts the
/// bytes it receives. With `deltas` it asks for call and analytics changes as deltas, as
/// the console does.
async fn receive(
    gw: &Gateway,
    shown: &str,
    deltas: bool,
    settings: &Settings,
) -> anyhow::Result<Received> {
    let path = if deltas {
        "/api/stream?deltas=1"
    } else {
        "/api/stream"
    };
    let (mut ws, bytes) = connect(&gw.ws_url(path), Some(VIEWER)).await?;
    // Welcome, then the snapshot.
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            anyhow::bail!("the stream closed before its snapshot");
        };
        if t.as_str().contains("\"type\":\"snapshot\"") {
            break;
        }
    }
    let watching = serde_json::json!({"type": "watching", "call_id": shown});
    let subscribe = serde_json::json!({"type": "subscribe", "calls": [shown]});
    ws.send(Message::text(watching.to_string())).await?;
    ws.send(Message::text(subscribe.to_string())).await?;

    let mut subscription_refused = None;
    let mut counting_since: Option<(Instant, u64)> = None;
    let (mut events, mut foreign_lines, mut own_lines) = (0u64, 0u64, 0u64);
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let settle_until = Instant::now() + Duration::from_secs(1);
    let end = settle_until + settings.bandwidth_window;
    let own = format!("\"call_id\":\"{shown}\"");
    while let Ok(Some(msg)) = tokio::time::timeout_at(end.into(), ws.next()).await {
        let Ok(Message::Text(t)) = msg else {
            continue;
        };
        let t = t.as_str();
        if t.contains("\"type\":\"error\"") && t.contains("subscribe") {
            subscription_refused = Some(t.to_string());
        }
        if counting_since.is_none() && Instant::now() >= settle_until {
            counting_since = Some((Instant::now(), bytes.load(Ordering::Relaxed)));
        }
        let numbered = t.starts_with("{\"type\":\"event\"") || t.starts_with("{\"type\":\"delta\"");
        if counting_since.is_some() && numbered {
            events += 1;
            *by_kind.entry(kind_of(t)).or_default() += t.len() as u64;
            if t.contains("\"kind\":\"transcript_") {
                if t.contains(&own) {
                    own_lines += 1;
                } else {
                    foreign_lines += 1;
                }
            }
        }
    }
    let (since, at) = counting_since.context("no frame arrived on the busy floor")?;
    let secs = since.elapsed().as_secs_f64();
    Ok(Received {
        rate: (bytes.load(Ordering::Relaxed) - at) as f64 / secs,
        secs,
        events,
        own_lines,
        foreign_lines,
        by_kind,
        subscription_refused,
    })
}

/// Two console-like clients on the busy floor at once, showing the same call: one that asks
/// for deltas (as the console does; the goal's figure) and one that takes whole events.
pub async fn console_bandwidth(
    gw: &Gateway,
    live: usize,
    settings: &Settings,
    table: &mut Table,
) -> anyhow::Result<()> {
    let calls = active_calls(gw).await?;
    let shown = calls
        .iter()
        .find(|(_, state)| state == "in_progress")
        .or(calls.first())
        .map(|(id, _)| id.clone())
        .context("the busy floor has no live call")?;
    let (with_deltas, whole) = tokio::join!(
        receive(gw, &shown, true, settings),
        receive(gw, &shown, false, settings)
    );
    let (with_deltas, whole) = (with_deltas?, whole?);
    let how = if with_deltas.subscription_refused.is_some() {
        "whole org: no subscriptions"
    } else {
        "subscribed to 1 call, deltas"
    };
    table.at_most(
        format!("bytes/s to one console, {live} live calls ({how})"),
        with_deltas.rate / 1000.0,
        50.0,
        "KB/s",
    );
    describe(table, &with_deltas);
    table.info(
        "  the same client taking whole events (no `?deltas=1`)",
        format!("{:.1} KB/s", whole.rate / 1000.0),
    );
    describe(table, &whole);
    if let Some(e) = with_deltas.subscription_refused {
        table.note(format!("the gateway refused the subscribe frame: {e}"));
    }
    Ok(())
}

fn describe(table: &mut Table, r: &Received) {
    table.info(
        "  events/s to that console, bytes an event; transcript frames of its call / of others",
        format!(
            "{:.0}/s, {:.0} B; {} / {}",
            r.events as f64 / r.secs,
            r.rate * r.secs / (r.events.max(1) as f64),
            r.own_lines,
            r.foreign_lines
        ),
    );
    let mut kinds: Vec<(&String, &u64)> = r.by_kind.iter().collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(*k.1));
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(k, b)| format!("{k} {:.1}", **b as f64 / r.secs / 1000.0))
        .collect();
    table.info("  KB/s by frame (type kind)", kinds.join(", "));
}

/// RSS of a gateway with a flat floor of 1,000 live calls, sampled over time.
pub async fn rss_over_time(settings: &Settings, table: &mut Table) -> anyhow::Result<()> {
    let gw = Gateway::start(&settings.bin, Some(FLAT_1000))?;
    let started = Instant::now();
    let mut first: Option<u64> = None;
    for k in 1..=5u32 {
        let at = settings.rss_step * k;
        tokio::time::sleep_until((started + at).into()).await;
        let rss = gw.rss();
        let live = active_calls(&gw).await.map(|c| c.len()).unwrap_or(0);
        let mb = rss as f64 / 1e6;
        let label = format!("gateway RSS, flat floor, at {} s", at.as_secs());
        match first {
            None => {
                first = Some(rss);
                table.info(label, format!("{mb:.0} MB ({live} live)"));
            }
            Some(base) => {
                let growth = rss as f64 / base as f64;
                let goal = format!("≤ 1.10x the {} s figure", settings.rss_step.as_secs());
                let verdict = if growth <= 1.10 {
                    "met".to_string()
                } else {
                    format!("missed: {growth:.2}x")
                };
                table.push(label, format!("{mb:.0} MB ({live} live)"), goal, verdict);
            }
        }
    }
    Ok(())
}

/// "event call_updated", "delta analytics_updated", ...: a frame's type and kind.
fn kind_of(frame: &str) -> String {
    let field = |key: &str| {
        frame
            .find(key)
            .map(|at| &frame[at + key.len()..])
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("?")
            .to_string()
    };
    format!("{} {}", field("\"type\":\""), field("\"kind\":\""))
}
