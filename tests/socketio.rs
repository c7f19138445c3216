//! Socket.IO both ways, against peers written with the real npm packages (installed from
//! tests/socketio/package-lock.json with `npm ci`, once per run):
//! - a `socket.io-client` 4.x dashboard connected to the gateway with the simulator;
//! - the real console binary, in tmux, attached to a `socket.io` 4.x server that emulates the
//!   seed backend (tests/socketio/seed.js) and records what it receives.
//!
//! Skipped with a note where Node (or tmux, for the console) is missing and `CI` is unset;
//! with `CI` set a missing tool fails.

#[path = "support/tmux.rs"]
mod tmux;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tmux::{tmux_or_skip, Tmux};

use callwatch::app::{start_gateway, SimulatorOptions};
use callwatch::core::model::Role;
use callwatch::gateway::{GatewayConfig, GatewayOptions};
use serde_json::Value;

const ACME: &str = "cw_sio_acme_supervisor_0123456789";
const GLOBEX: &str = "cw_sio_globex_supervisor_987654321";

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

/// True when Node and the installed peers are ready; false (with a note) to skip.
pub fn node_or_skip() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let node = Command::new("node").arg("--version").output();
        if !node.is_ok_and(|o| o.status.success()) {
            return Err("node is not installed".into());
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(peers_dir())
            .output()
            .map_err(|e| format!("cannot run npm: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    match ready {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("{e}, and CI is set: the Socket.IO peer tests must run in CI")
        }
        Err(e) => {
            eprintln!("SKIPPED (CI unset): {e}; the Socket.IO peer tests need Node 18+ and npm");
            false
        }
    }
}

/// Runs the dashboard peer for `seconds` and returns its JSON lines.
async fn dashboard(url: &str, token: &str, path: &str, seconds: u32, rooms: &[&str]) -> Vec<Value> {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(peers_dir().join("dashboard.js"))
        .args([url, token, path, &seconds.to_string()])
        .args(rooms)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(u64::from(seconds) + 30), cmd.output())
        .await
        .expect("the dashboard peer finishes")
        .expect("node runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["event"] == name)
        .map(|l| &l["data"])
        .collect()
}

fn call_ids_seen(lines: &[Value]) -> HashSet<String> {
    let mut ids: HashSet<String> = events(lines, "call:updated")
        .iter()
        .filter_map(|d| d["id"].as_str().map(String::from))
        .collect();
    ids.extend(
        events(lines, "transcript:update")
            .iter()
            .filter_map(|d| d["callId"].as_str().map(String::from)),
    );
    ids
}

/// These tests run one at a time: the terminal one checks that a blip is recovered within
/// the server's recovery window, which a simulated floor in a parallel test can starve.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socketio_dashboard_gets_its_orgs_calls_and_only_its_rooms() {
    let _one_at_a_time = SERIAL.lock().await;
    if !node_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig::default()
        .with_token("acme-sup", ACME, "acme", Role::Supervisor)
        .with_token("globex-sup", GLOBEX, "globex", Role::Supervisor);
    let options = GatewayOptions::new(config, dir.path().join("callwatch.db"));
    let sim = SimulatorOptions {
        seed: Some(5),
        calls_per_minute: Some(20.0),
        speed: Some(8.0),
        scenarios: None,
        max_concurrent: None,
    };
    let running = start_gateway(options, Some(&sim))
        .await
        .expect("gateway starts");
    let base = running.url();
    let http = reqwest::Client::new();
    let active = |token: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let v: Value = http
                .get(format!("{base}/api/calls/active"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["calls"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| c["id"].as_str().map(String::from))
                .collect::<HashSet<String>>()
        }
    };

    // A refused token is told why, in Socket.IO's own connect_error.
    let refused = dashboard(&base, "not-a-token", "/socket.io", 5, &[]).await;
    assert_eq!(
        refused.first().and_then(|l| l["connect_error"].as_str()),
        Some("the API token is not valid"),
        "{refused:?}"
    );

    // Both orgs' floors run at once; each dashboard sees its own org's calls only.
    let (acme_all, globex_all) = tokio::join!(
        dashboard(&base, ACME, "/socket.io", 6, &[]),
        dashboard(&base, GLOBEX, "/api/calls/websocket", 6, &[]),
    );
    assert!(
        acme_all.iter().any(|l| l["connected"] == true),
        "{acme_all:?}"
    );
    let acme_seen = call_ids_seen(&acme_all);
    let globex_seen = call_ids_seen(&globex_all);
    assert!(
        !events(&acme_all, "transcript:update").is_empty(),
        "acme got no transcript"
    );
    assert!(
        !events(&acme_all, "call:updated").is_empty(),
        "acme got no call update"
    );
    assert!(
        !events(&globex_all, "transcript:update").is_empty(),
        "globex got no transcript"
    );
    assert!(acme_seen.is_disjoint(&globex_seen), "an event crossed orgs");
    for id in &acme_seen {
        let other = http
            .get(format!("{base}/api/calls/{id}"))
            .bearer_auth(GLOBEX)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 404, "globex can see acme's call {id}");
    }
    // The seed's field names.
    let update = events(&acme_all, "transcript:update")[0];
    assert!(update["callId"].is_string() && update["entry"]["text"].is_string());
    assert!(update["entry"]["speaker"].is_string() && update["entry"]["timestamp"].is_string());
    let call = events(&acme_all, "call:updated")[0];
    assert!(call["status"].is_string() && call["isAiPaused"].is_boolean());

    // Joined rooms narrow the feed to those calls.
    let live: Vec<String> = active(ACME).await.into_iter().collect();
    assert!(
        live.len() >= 2,
        "the floor has several live calls: {live:?}"
    );
    let room = live[0].clone();
    let joined = dashboard(&base, ACME, "/socket.io", 6, &[&room]).await;
    let acks = joined.iter().find(|l| l.get("joined").is_some());
    assert_eq!(
        acks.map(|l| l["joined"].clone()),
        Some(serde_json::json!([{"ok": true}, {"ok": true}])),
        "{joined:?}"
    );
    let seen = call_ids_seen(&joined);
    assert!(
        seen.contains(&room) && seen.len() == 1,
        "events for calls outside the joined room: {seen:?} (joined {room})"
    );

    // A dashboard still connected when the gateway stops is disconnected, not left hanging.
    let base2 = base.clone();
    let last = tokio::spawn(async move { dashboard(&base2, ACME, "/socket.io", 60, &[]).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    running.shutdown().await;
    let last = last.await.unwrap();
    assert!(
        last.iter().any(|l| l.get("disconnect").is_some())
            && !last.iter().any(|l| l["done"] == true),
        "{last:?}"
    );
}

// ---- the console attached to a seed backend ----

const SEED_TOKEN: &str = "seed-jwt-eyJhbGciOiJIUzI1NiJ9.e2e";

/// Kills a child process however the test ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the seed peer on `port` (0: any) and returns it with its port.
fn start_seed(dir: &Path, port: u16) -> (ChildGuard, u16) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new("node")
        .arg(peers_dir().join("seed.js"))
        .arg(port.to_string())
        .arg(dir.join("seed-state.json"))
        .arg(SEED_TOKEN)
        .arg(dir.join("received.jsonl"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the seed peer starts");
    let v: Value = serde_json::from_str(&line).expect("the seed peer prints its port");
    let port = v["listening"].as_u64().expect("port") as u16;
    (guard, port)
}

fn received(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("received.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|r: &Value| !r["path"].as_str().unwrap_or("").starts_with("/api/test/"))
        .collect()
}

fn wait_received(dir: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(r) = received(dir).into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seed peer never received {what}; it got {:#?}",
            received(dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn hook(port: u16, path: &str, body: Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/test/{path}"))
        .json(&body)
        .send()
        .await
        .expect("the seed peer answers");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_attached_to_a_seed_backend_shows_acts_and_survives_its_restart() {
    let _one_at_a_time = SERIAL.lock().await;
    if !node_or_skip() || !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (seed, port) = start_seed(dir.path(), 0);
    hook(
        port,
        "call",
        serde_json::json!({"id": "c-1", "phoneNumber": "+15550001001", "leadName": "Ada Lovelace"}),
    )
    .await;
    hook(port, "line", serde_json::json!({"callId": "c-1", "speaker": "user", "text": "first line from the caller"})).await;
    hook(port, "line", serde_json::json!({"callId": "c-1", "speaker": "assistant", "text": "second line from the AI"})).await;

    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[console]\n").unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, SEED_TOKEN).unwrap();
    let tmux = Tmux::new("cw-sio");
    let console = format!(
        "'{}' --config '{}' --backend socketio --url 'http://127.0.0.1:{port}' --token-file '{}' --log-file '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        config.display(),
        token_file.display(),
        dir.path().join("console.log").display(),
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "cw",
        "-x",
        "160",
        "-y",
        "45",
        &console,
        ";",
        "set-option",
        "-t",
        "cw",
        "remain-on-exit",
        "on",
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    tmux.wait_screen("the seed's call and its transcript", |s| {
        s.contains("Ada Lovelace")
            && s.contains("first line from the caller")
            && s.contains("second line from the AI")
    });
    // A live line and a call that appears later both arrive over Socket.IO.
    hook(port, "line", serde_json::json!({"callId": "c-1", "speaker": "user", "text": "a live line over socket.io"})).await;
    hook(
        port,
        "call",
        serde_json::json!({"id": "c-2", "phoneNumber": "+15550001002", "leadName": "Grace Hopper"}),
    )
    .await;
    tmux.wait_screen("the live line and the new call", |s| {
        s.contains("a live line over socket.io") && s.contains("Grace Hopper")
    });
    // Keep Ada selected whatever the sort order did.
    let screen = tmux.capture();
    let ada_row = screen.lines().position(|l| l.contains("Ada Lovelace"));
    let grace_row = screen.lines().position(|l| l.contains("Grace Hopper"));
    if let (Some(a), Some(g)) = (ada_row, grace_row) {
        if g < a {
            tmux.keys(&["Down"]);
        }
    }

    // What the seed cannot do is refused at once, without a request.
    let before = received(dir.path()).len();
    tmux.keys(&["s"]);
    tmux.wait_screen("say refused", |s| {
        s.contains("this backend (a seed Socket.IO server) cannot speak to callers")
    });

    tmux.keys(&["p"]);
    let pause = wait_received(dir.path(), "a pause", |r| {
        r["method"] == "POST" && r["path"] == "/api/calls/c-1/pause-ai"
    });
    assert_eq!(pause["authorization"], format!("Bearer {SEED_TOKEN}"));
    tmux.wait_screen("the paused call", |s| {
        s.contains("done: pausing the AI") || s.contains("paused")
    });
    tmux.keys(&["r"]);
    wait_received(dir.path(), "a resume", |r| {
        r["method"] == "DELETE" && r["path"] == "/api/calls/c-1/pause-ai"
    });
    tmux.wait_screen("the resumed call", |s| s.contains("done: resuming the AI"));
    tmux.keys(&["t"]);
    tmux.wait_screen("the take-over dialog", |s| s.contains("Reason (required)"));
    tmux.text("caller wants a person");
    tmux.keys(&["Enter"]);
    let takeover = wait_received(dir.path(), "a take-over", |r| {
        r["method"] == "POST" && r["path"] == "/api/calls/c-1/takeover"
    });
    assert_eq!(takeover["body"]["reason"], "caller wants a person");
    assert!(takeover["body"].get("notes").is_some(), "{takeover}");
    let actions: Vec<Value> = received(dir.path())[before..]
        .iter()
        .filter(|r| r["method"] != "GET" && r["method"] != "CONNECT")
        .cloned()
        .collect();
    assert_eq!(
        actions.len(),
        3,
        "only pause, resume and take-over were sent: {actions:#?}"
    );

    // A network blip: the server keeps the session (connection state recovery), so the line
    // said meanwhile is replayed to the console and nothing is re-read.
    let reads_before = received(dir.path())
        .iter()
        .filter(|r| r["path"] == "/api/calls/active")
        .count();
    hook(port, "drop", serde_json::json!({"callId": "c-1", "speaker": "user", "text": "said during a network blip"})).await;
    tmux.wait_screen("the line said during the blip", |s| {
        s.contains("said during a network blip") && s.contains("● connected")
    });
    let reads_after = received(dir.path())
        .iter()
        .filter(|r| r["path"] == "/api/calls/active")
        .count();
    assert_eq!(
        reads_before, reads_after,
        "a recovered session re-read the active calls"
    );
    let connects: Vec<Value> = received(dir.path())
        .into_iter()
        .filter(|r| r["method"] == "CONNECT")
        .collect();
    assert_eq!(
        connects.len(),
        2,
        "one connection, one after the blip: {connects:?}"
    );
    assert_eq!(
        connects[1]["recovered"], true,
        "the session was not recovered"
    );

    // Kill the backend, restart it on the same port, and say a line before the console is
    // back: nothing is lost and nothing is doubled.
    drop(seed);
    tmux.wait_screen("the lost connection", |s| !s.contains("● connected"));
    let (_seed, again) = start_seed(dir.path(), port);
    assert_eq!(again, port);
    hook(port, "line", serde_json::json!({"callId": "c-1", "speaker": "user", "text": "said while the console reconnected"})).await;
    let screen = tmux.wait_screen("the restarted backend's transcript", |s| {
        s.contains("● connected") && s.contains("said while the console reconnected")
    });
    hook(port, "line", serde_json::json!({"callId": "c-1", "speaker": "assistant", "text": "and a live line after the restart"})).await;
    let screen2 = tmux.wait_screen("a live line after the restart", |s| {
        s.contains("and a live line after the restart")
    });
    for s in [&screen, &screen2] {
        for line in [
            "first line from the caller",
            "second line from the AI",
            "a live line over socket.io",
            "said during a network blip",
            "said while the console reconnected",
        ] {
            assert_eq!(s.matches(line).count(), 1, "{line:?} once on:\n{s}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_client_reports_a_refused_token_and_snapshots_a_good_one() {
    let _one_at_a_time = SERIAL.lock().await;
    use callwatch::client::socketio::{spawn_seed_stream, SeedConfig};
    use callwatch::client::StreamMsg;
    if !node_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_seed, port) = start_seed(dir.path(), 0);
    hook(
        port,
        "call",
        serde_json::json!({"id": "c-9", "phoneNumber": "+15550009999", "leadName": "Lin"}),
    )
    .await;
    hook(
        port,
        "line",
        serde_json::json!({"callId": "c-9", "speaker": "assistant", "text": "hello"}),
    )
    .await;
    let url = format!("http://127.0.0.1:{port}");

    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let _bad = spawn_seed_stream(SeedConfig::new(&url, "wrong-token"), tx);
    let refused = loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(StreamMsg::AuthFailed { message })) => break message,
            Ok(Some(_)) => continue,
            other => panic!("no refusal: {other:?}"),
        }
    };
    assert_eq!(refused, "invalid token");

    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let _good = spawn_seed_stream(SeedConfig::new(&url, SEED_TOKEN), tx);
    let snapshot = loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(StreamMsg::Snapshot(s))) => break s,
            Ok(Some(StreamMsg::AuthFailed { message })) => panic!("refused: {message}"),
            Ok(Some(_)) => continue,
            other => panic!("no snapshot: {other:?}"),
        }
    };
    assert_eq!(snapshot.calls.len(), 1);
    let c = &snapshot.calls[0];
    assert_eq!(c.call.id, "c-9");
    assert_eq!(c.call.lead.name.as_deref(), Some("Lin"));
    assert_eq!(c.transcript.len(), 1);
    assert_eq!(c.transcript[0].text, "hello");
    assert_eq!(c.transcript[0].speaker, callwatch::core::model::Speaker::Ai);
}
