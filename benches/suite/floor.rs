//! Simulated floors: the bytes a console receives on a busy floor (~265 live calls), and
//! the gateway's RSS over time with a flat floor of 1,000 live calls.

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

/// One client behaving like a console that shows one call: it says so (`watching`) and,
/// where the gateway knows subscriptions, subscribes to that call only; then counts the
/// bytes it receives.
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
    let (mut ws, bytes) = connect(&gw.ws_url("/api/stream"), Some(VIEWER)).await?;
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
        if counting_since.is_some() && t.starts_with("{\"type\":\"event\"") {
            events += 1;
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
    let rate = (bytes.load(Ordering::Relaxed) - at) as f64 / secs;
    let how = if subscription_refused.is_some() {
        "whole org: no subscriptions"
    } else {
        "subscribed to 1 call"
    };
    table.at_most(
        format!("bytes/s to one console, {live} live calls ({how})"),
        rate / 1000.0,
        50.0,
        "KB/s",
    );
    table.info(
        "  events/s to that console, bytes an event; transcript frames of its call / of others",
        format!(
            "{:.0}/s, {:.0} B; {own_lines} / {foreign_lines}",
            events as f64 / secs,
            rate * secs / (events.max(1) as f64)
        ),
    );
    if let Some(e) = subscription_refused {
        table.note(format!("the gateway refused the subscribe frame: {e}"));
    }
    Ok(())
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
