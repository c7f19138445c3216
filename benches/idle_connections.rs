//! Memory per idle stream connection: `callwatch serve` runs as a child process; 1,000
//! websocket clients open `/api/stream`, take their hello and snapshot, and then stay idle.
//! Prints the gateway's RSS before and after, and the difference per connection
//! (goal: <= 30 KB). Run with `cargo bench --bench idle_connections`; `IDLE_CLIENTS` sets
//! the number of clients.

use std::io::BufRead;
use std::time::Duration;

use futures::StreamExt;

const TOKEN: &str = "tok_bench_viewer";

struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))
}

async fn client(url: &str) -> anyhow::Result<impl Send> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    // Hello, then the snapshot: the connection is fully set up.
    for _ in 0..2 {
        match ws.next().await {
            Some(Ok(_)) => {}
            other => anyhow::bail!("stream ended early: {other:?}"),
        }
    }
    Ok(ws)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients: usize = std::env::var("IDLE_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!("[gateway]\n[[gateway.tokens]]\nname = \"v\"\ntoken = \"{TOKEN}\"\norg = \"bench\"\nrole = \"viewer\"\n"),
    )?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("cw.db"))
        .args(["--listen", "127.0.0.1:0", "--log-file"])
        .arg(dir.path().join("gw.log"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stderr"))?;
    let serve = Serve(child);
    let pid = serve.0.id();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut base = None;
    for line in lines.by_ref() {
        if let Some(rest) = line?.split("listening on ").nth(1) {
            base = rest.split_whitespace().next().map(String::from);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let base = base.ok_or_else(|| anyhow::anyhow!("the gateway did not say where it listens"))?;
    let url = format!(
        "{}/api/stream?token={TOKEN}",
        base.replacen("http://", "ws://", 1)
    );
    // Warm up (runtime threads, allocator arenas), then measure from a settled baseline.
    let warm: Vec<_> = futures::future::try_join_all((0..20).map(|_| client(&url))).await?;
    drop(warm);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kb(pid)?;
    let mut open = Vec::with_capacity(clients);
    for chunk in 0..clients.div_ceil(100) {
        let n = (clients - chunk * 100).min(100);
        open.extend(futures::future::try_join_all((0..n).map(|_| client(&url))).await?);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kb(pid)?;
    let per = (after.saturating_sub(before)) as f64 / clients as f64;
    println!(
        "idle stream connections: {clients}; gateway RSS {before} KB -> {after} KB; {per:.1} KB per connection {}",
        if per <= 30.0 { "(goal <= 30 KB: ok)" } else { "(goal <= 30 KB: MISSED)" }
    );
    drop(open);
    drop(serve);
    Ok(())
}
