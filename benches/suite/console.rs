//! Console event -> screen on a busy floor: the real console in tmux, showing one call; a
//! line is said into that call (signed ingest) and `tmux capture-pane` is polled until the
//! line is on the screen. The figure includes the gateway's ingest and fan-out and up to
//! one capture (a few ms) of polling.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::bail;
use rand::Rng;

use crate::ingest::{call_started, line, post};
use crate::procs::{Gateway, SUPERVISOR};
use crate::report::{ms, pct, Table};
use crate::Settings;

const PROBE_CALL: &str = "console-probe";
const PROBE_NUMBER: &str = "+15550009876";

struct Tmux {
    socket: String,
}

impl Tmux {
    async fn cmd(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Ok(tokio::process::Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await?)
    }

    async fn capture(&self) -> String {
        match self.cmd(&["capture-pane", "-p", "-t", "cw"]).await {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(_) => String::new(),
        }
    }

    async fn wait_for(&self, what: &str, needle: &str, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.capture().await;
            if screen.contains(needle) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}; the console shows:\n{screen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub async fn run(gw: &Gateway, live: usize, settings: &Settings, table: &mut Table) {
    let tmux_ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_ok {
        table.note("console event -> screen skipped: tmux is not installed");
        return;
    }
    if let Err(e) = measure(gw, live, settings, table).await {
        table.note(format!("console event -> screen failed: {e:#}"));
    }
}

async fn measure(
    gw: &Gateway,
    live: usize,
    settings: &Settings,
    table: &mut Table,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    anyhow::ensure!(post(&http, &gw.url, &call_started(PROBE_CALL, PROBE_NUMBER)).await? == 200);
    let token_file = gw.dir().join("console-token");
    std::fs::write(&token_file, SUPERVISOR)?;
    let mut console = format!(
        "'{}' --config '{}' --url '{}' --token-file '{}' --log-file '{}'",
        settings.bin.display(),
        gw.dir().join("config.toml").display(),
        gw.url,
        token_file.display(),
        gw.dir().join("console.log").display(),
    );
    // Consoles that measure themselves (event received -> frame flushed) say so in --help.
    let report = gw.dir().join("latency.json");
    let measures_itself = std::process::Command::new(&settings.bin)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--latency-report"));
    if measures_itself {
        console.push_str(&format!(" --latency-report '{}'", report.display()));
    }
    let tmux = Tmux {
        socket: format!("cw-bench-{}", std::process::id()),
    };
    let out = tmux
        .cmd(&[
            "new-session",
            "-d",
            "-s",
            "cw",
            "-x",
            "160",
            "-y",
            "45",
            &console,
        ])
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for(
        "a connected console",
        "● connected",
        Duration::from_secs(30),
    )
    .await?;
    // Narrow the table to the probe call: it is then the selected row, its transcript shown.
    tmux.cmd(&["send-keys", "-t", "cw", "/"]).await?;
    tmux.cmd(&["send-keys", "-t", "cw", "-l", &PROBE_NUMBER[2..]])
        .await?;
    tmux.cmd(&["send-keys", "-t", "cw", "Enter"]).await?;
    tmux.wait_for("the probe call alone", "(1 shown)", Duration::from_secs(15))
        .await?;

    let nonce: u32 = rand::rng().random_range(100_000..999_999);
    let mut samples = Vec::with_capacity(settings.console_samples);
    let mut missed = 0;
    for i in 0..settings.console_samples {
        let marker = format!("probe{nonce}n{i}");
        let ev = line(&format!("probe-{nonce}-{i}"), PROBE_CALL, &marker);
        let started = Instant::now();
        let sent = {
            let (http, url) = (http.clone(), gw.url.clone());
            tokio::spawn(async move { post(&http, &url, &ev).await })
        };
        let deadline = started + Duration::from_secs(5);
        loop {
            if tmux.capture().await.contains(&marker) {
                samples.push(started.elapsed());
                break;
            }
            if Instant::now() > deadline {
                missed += 1;
                break;
            }
        }
        let _ = sent.await;
        // Irregular gaps, so the lines do not fall in step with the console's redraws.
        let gap = rand::rng().random_range(60..180);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    samples.sort_unstable();
    let label = format!("console event -> screen, {live} live calls (tmux capture)");
    table.info(
        format!("{label}: p50"),
        format!("{:.1} ms", ms(pct(&samples, 0.5))),
    );
    let p99 = ms(pct(&samples, 0.99));
    if measures_itself {
        // The goal is judged on the console's own figure below; this one adds the
        // gateway's ingest and fan-out and the polling.
        table.info(format!("{label}: p99"), format!("{p99:.1} ms"));
    } else {
        table.at_most(format!("{label}: p99"), p99, 25.0, "ms");
    }
    if missed > 0 {
        table.note(format!(
            "console event -> screen: {missed} of {} lines not on screen within 5 s",
            settings.console_samples
        ));
    }
    let _ = tmux.cmd(&["send-keys", "-t", "cw", "q"]).await;
    if measures_itself {
        in_console(&report, live, table).await;
    } else {
        table.note(
            "this console cannot measure event -> frame itself (no --latency-report): \
             the tmux capture figure above stands for it",
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(())
}

/// The console's own figure, written when it quits: every stream event that changed the
/// screen, from its arrival to the flush of the frame showing it.
async fn in_console(report: &std::path::Path, live: usize, table: &mut Table) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        match std::fs::read_to_string(report) {
            Ok(t) if t.ends_with('\n') => break t,
            _ if Instant::now() > deadline => {
                table.note("the console wrote no latency report within 10 s of quitting");
                return;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        table.note(format!("unreadable console latency report: {text}"));
        return;
    };
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let label = format!("console event -> frame flushed, {live} live calls (in-console)");
    table.info(
        format!("{label}: p50"),
        format!(
            "{:.1} ms ({} events, {} frames)",
            f("p50_ms"),
            f("events"),
            f("frames")
        ),
    );
    table.at_most(format!("{label}: p99"), f("p99_ms"), 25.0, "ms");
}
