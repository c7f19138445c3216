//! Headless commands end to end: the real `callwatch` binary against a real `callwatch
//! serve` child, driven by signed ingest. Checks output, JSON shape and exit codes, and that
//! `tail -f` prints every final line exactly once across a cut connection and a restart.

#[path = "support/tmux.rs"]
mod tmux;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tmux::{tmux_or_skip, Tmux};

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "cw_headless_supervisor_77";
const VIEWER: &str = "cw_headless_viewer_77";
const SECRET: &str = "headless-ingest-secret";

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_callwatch")
}

/// `stack` acts through a control URL (a local stand-in); `bare` has none, so its
/// calls cannot be acted on.
fn write_config(dir: &Path, control_url: &str) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        r#"
[[gateway.tokens]]
name = "sup"
token = "{TOKEN}"
org = "hl"
role = "supervisor"

[[gateway.tokens]]
name = "view"
token = "{VIEWER}"
org = "hl"
role = "viewer"

[[gateway.integrations]]
name = "stack"
kind = "custom"
org = "hl"
secret = "{SECRET}"
control_url = "{control_url}"

[[gateway.integrations]]
name = "bare"
kind = "custom"
org = "hl"
secret = "{SECRET}"

[[gateway.destinations]]
org = "hl"
name = "Desk"
to = "+15550009999"
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts `callwatch serve` on `listen` and returns it with its base URL.
fn start_gateway(dir: &Path, config: &Path, listen: &str) -> (ChildGuard, String) {
    let mut child = Command::new(bin())
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(dir.join("headless.db"))
        .arg("--log-file")
        .arg(dir.join("gateway.log"))
        .args(["--listen", listen])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the gateway");
    let stderr = child.stderr.take().expect("stderr");
    let guard = ChildGuard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway says where it listens");
    (guard, url)
}

/// Runs the binary to completion with a fixed environment (no user config or token).
fn run(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CALLWATCH_URL", url)
        .env("CALLWATCH_TOKEN", token)
        .env("CALLWATCH_CONFIG", "/nonexistent-callwatch-config.toml")
        .env_remove("CALLWATCH_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run callwatch")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    if code != 0 {
        let err = stderr(o);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "one line on stderr: {err}"
        );
        assert!(err.starts_with("callwatch: "), "{err}");
    }
}

async fn ingest(url: &str, integration: &str, events: Value) {
    let body = serde_json::to_vec(&events).expect("json");
    let now = chrono::Utc::now().timestamp();
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", integration)
        .header(
            "Callwatch-Signature",
            callwatch::gateway::ingest::signature_header(SECRET, now, &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("ingest");
    assert!(
        resp.status().is_success(),
        "ingest answered {}",
        resp.status()
    );
}

fn started(ev: &str, pcid: &str, from: &str, name: &str) -> Value {
    json!({
        "id": ev, "type": "call.started", "provider_call_id": pcid, "direction": "inbound",
        "from": from, "to": "+15559990000", "lead": {"name": name}, "state": "in_progress"
    })
}

fn said(ev: &str, pcid: &str, utterance: &str, kind: &str, text: &str) -> Value {
    json!({
        "id": ev, "type": kind, "provider_call_id": pcid, "utterance_id": utterance,
        "speaker": "caller", "text": text
    })
}

/// The control URL stand-in: accepts every action.
async fn control_stand_in() -> String {
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|| async { axum::Json(json!({"ok": true})) }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/")
}

async fn call_id(url: &str, number: &str) -> String {
    let calls: Value = reqwest::Client::new()
        .get(format!("{url}/api/calls/active"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    calls["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["from"] == number)
        .and_then(|c| c["id"].as_str())
        .map(String::from)
        .unwrap_or_else(|| panic!("no active call from {number}: {calls}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_and_acting_commands_print_json_tables_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = control_stand_in().await;
    let config = write_config(dir.path(), &control);
    let (_gw, url) = start_gateway(dir.path(), &config, "127.0.0.1:0");

    ingest(
        &url,
        "stack",
        json!([
            started(
                "a1",
                "ada",
                "+15550001111",
                "Ada\u{1b}]0;pwned\u{7} \u{202e}Lovelace"
            ),
            said(
                "a2",
                "ada",
                "u1",
                "transcript.final",
                "hello \u{1b}[31mthere"
            ),
            said("a3", "ada", "u2", "transcript.partial", "I would li"),
        ]),
    )
    .await;
    ingest(
        &url,
        "bare",
        json!([started("b1", "bob", "+15550002222", "Bob")]),
    )
    .await;
    let ada = call_id(&url, "+15550001111").await;
    let bob = call_id(&url, "+15550002222").await;

    // calls --json: an array of protocol calls, cleaned.
    let o = run(&url, TOKEN, &["calls", "--json"]);
    expect_code(&o, 0);
    let calls: Value = serde_json::from_str(stdout(&o).trim()).expect("calls --json is JSON");
    let calls = calls.as_array().expect("an array");
    assert_eq!(calls.len(), 2);
    let a = calls
        .iter()
        .find(|c| c["id"] == ada.as_str())
        .expect("ada listed");
    assert_eq!(a["lead"]["name"], "Ada]0;pwned Lovelace");
    assert_eq!(a["state"], "in_progress");

    // The human table, piped: no colour, no escapes, full width.
    let o = run(&url, TOKEN, &["calls", "--provider", "bare"]);
    expect_code(&o, 0);
    let text = stdout(&o);
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.contains("+15550002222") && !text.contains("+15550001111"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text:?}");

    // A number, a prefix, the full id.
    let o = run(&url, TOKEN, &["show", "555-000-1111", "--json"]);
    expect_code(&o, 0);
    let shown: Value = serde_json::from_str(stdout(&o).trim()).expect("show --json");
    assert_eq!(shown["call"]["id"], ada.as_str());
    assert_eq!(shown["transcript"][0]["text"], "hello [31mthere");
    let o = run(&url, TOKEN, &["show", &ada[..8]]);
    expect_code(&o, 0);
    let text = stdout(&o);
    assert!(text.contains("caller: hello [31mthere"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}'),
        "{text:?}"
    );

    // tail without -f, piped: finals only.
    let o = run(&url, TOKEN, &["tail", &ada]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).ends_with("caller: hello [31mthere\n"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("I would li"));

    // The same caller twice: the number is ambiguous and the candidates are listed.
    ingest(
        &url,
        "bare",
        json!([started("c1", "ada-2", "+15550001111", "Ada")]),
    )
    .await;
    let o = run(&url, TOKEN, &["show", "+15550001111"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("matches 2 calls") && stderr(&o).contains(&ada[..8]),
        "{}",
        stderr(&o)
    );
    let o = run(&url, TOKEN, &["show", "zzzz-no-such-call"]);
    expect_code(&o, 4);

    // Acting: unsupported by the provider, done, then a conflict.
    let o = run(&url, TOKEN, &["takeover", &bob, "--reason", "test"]);
    expect_code(&o, 6);
    let o = run(
        &url,
        TOKEN,
        &["takeover", &ada, "--reason", "caller asked", "--json"],
    );
    expect_code(&o, 0);
    let done: Value = serde_json::from_str(stdout(&o).trim()).expect("takeover --json");
    assert_eq!(done["call"]["state"], "taken_over");
    let o = run(&url, TOKEN, &["takeover", &ada, "--reason", "again"]);
    expect_code(&o, 5);
    let o = run(&url, TOKEN, &["say", &ada[..8], "one", "moment"]);
    expect_code(&o, 0);
    assert!(stdout(&o).starts_with("said it on call"), "{}", stdout(&o));
    // Hand back, then transfer: where the stack cannot, and to a named destination.
    let o = run(&url, TOKEN, &["handback", &ada]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("handed back call") && stdout(&o).contains("now in_progress"),
        "{}",
        stdout(&o)
    );
    expect_code(
        &run(&url, TOKEN, &["transfer", &bob, "--to", "+15550003333"]),
        6,
    );
    expect_code(&run(&url, TOKEN, &["transfer", &ada]), 2);

    // Auth: a wrong token, and a viewer acting.
    expect_code(&run(&url, "wrong-token", &["calls"]), 3);
    expect_code(&run(&url, VIEWER, &["end", &ada]), 3);
    // Usage.
    expect_code(&run(&url, TOKEN, &["history", "--since", "yesterday"]), 2);
    expect_code(&run(&url, TOKEN, &["takeover", &ada]), 2);
    // Unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    expect_code(&run(&closed_url, TOKEN, &["calls"]), 7);

    // History, analytics, queue.
    let o = run(
        &url,
        TOKEN,
        &["history", "--q", "Bob", "--since", "1h", "--json"],
    );
    expect_code(&o, 0);
    let list: Value = serde_json::from_str(stdout(&o).trim()).expect("history --json");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], bob.as_str());
    let o = run(&url, TOKEN, &["analytics", "--json"]);
    expect_code(&o, 0);
    let a: Value = serde_json::from_str(stdout(&o).trim()).expect("analytics --json");
    assert!(a.is_object(), "{a}");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let o = run(
        &url,
        TOKEN,
        &[
            "queue",
            "add",
            "+15551234567",
            "--name",
            "Cy",
            "--at",
            &later,
            "--json",
        ],
    );
    expect_code(&o, 0);
    let item: Value = serde_json::from_str(stdout(&o).trim()).expect("queue add --json");
    let item_id = item["id"].as_str().expect("an id").to_string();
    let o = run(&url, TOKEN, &["queue"]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains(&item_id[..8]) && stdout(&o).contains("Cy"),
        "{}",
        stdout(&o)
    );
    let o = run(&url, TOKEN, &["queue", "cancel", &item_id[..8]]);
    expect_code(&o, 0);
    expect_code(&run(&url, TOKEN, &["queue", "cancel", "nothing-here"]), 4);

    // End, then the call is gone from `calls`.
    expect_code(&run(&url, TOKEN, &["end", &ada]), 0);
    let o = run(&url, TOKEN, &["calls", "--json"]);
    assert!(!stdout(&o).contains(&ada), "{}", stdout(&o));
    ingest(
        &url,
        "stack",
        json!([started("c1", "cy", "+15550004444", "Cy")]),
    )
    .await;
    let cy = call_id(&url, "+15550004444").await;
    let o = run(
        &url,
        TOKEN,
        &["transfer", &cy, "--destination", "desk", "--json"],
    );
    expect_code(&o, 0);
    let done: Value = serde_json::from_str(stdout(&o).trim()).expect("transfer --json");
    assert_eq!(done["call"]["outcome"], "transferred");

    // Generated docs.
    let o = run(&url, TOKEN, &["completions", "bash"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("_callwatch"));
    let o = run(&url, TOKEN, &["man"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains(".TH callwatch"));
}

/// A TCP relay to the gateway whose connections can be cut, and new ones refused, on demand.
struct Relay {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    blocked: Arc<AtomicBool>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("addr");
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let blocked = Arc::new(AtomicBool::new(false));
        let list = conns.clone();
        let refuse = blocked.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if refuse.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close at once
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut l) = list.lock() {
                    l.push(task);
                }
            }
        });
        Relay {
            addr,
            conns,
            blocked,
        }
    }

    /// Drops every open connection and refuses new ones until [`Relay::open`].
    fn block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        self.cut();
    }

    fn open(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }

    /// Drops every open connection (the listener stays).
    fn cut(&self) {
        if let Ok(mut l) = self.conns.lock() {
            for task in l.drain(..) {
                task.abort();
            }
        }
    }
}

/// A running `callwatch` whose stdout lines arrive on a channel.
struct Follower {
    child: ChildGuard,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn start(url: &str, args: &[&str]) -> Follower {
        let mut child = Command::new(bin())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CALLWATCH_URL", url)
            .env("CALLWATCH_TOKEN", TOKEN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start callwatch");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Follower {
            child: ChildGuard(child),
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until a line containing `what` has been printed.
    fn wait_for(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(40);
        while !self.seen.iter().any(|l| l.contains(what)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {what:?}; printed so far: {:#?}", self.seen),
            }
        }
    }

    fn exit_code(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follow_prints_every_line_once_across_a_cut_and_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = control_stand_in().await;
    let config = write_config(dir.path(), &control);
    let (gw, url) = start_gateway(dir.path(), &config, "127.0.0.1:0");
    let upstream: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("a loopback address");
    let relay = Relay::start(upstream).await;
    let via = format!("http://{}", relay.addr);

    ingest(
        &url,
        "stack",
        json!([
            started("t1", "tc", "+15550003333", "Tess"),
            said("t2", "tc", "u0", "transcript.final", "line zero"),
        ]),
    )
    .await;
    let id = call_id(&url, "+15550003333").await;
    let mut one = Follower::start(&via, &["tail", &id[..8], "-f"]);
    let mut all = Follower::start(&via, &["tail", "--all", "-f", "--json"]);
    one.wait_for("line zero");
    all.wait_for("line zero");

    ingest(
        &url,
        "stack",
        json!([
            said("t3", "tc", "u1", "transcript.partial", "PARTIAL one"),
            said("t4", "tc", "u1", "transcript.final", "line one"),
        ]),
    )
    .await;
    one.wait_for("line one");
    all.wait_for("line one");

    // A cut connection: what was committed meanwhile is replayed on reconnect.
    relay.block();
    ingest(
        &url,
        "stack",
        json!([said("t5", "tc", "u2", "transcript.final", "line two")]),
    )
    .await;
    std::thread::sleep(Duration::from_millis(300));
    relay.open();
    one.wait_for("line two");
    all.wait_for("line two");

    // A gateway restart on the same port and database while the followers are cut off: a
    // new epoch, so what was said meanwhile comes in the fresh snapshot, then live again.
    relay.block();
    drop(gw);
    let (_gw, url2) = start_gateway(dir.path(), &config, &upstream.to_string());
    assert_eq!(url2, url);
    ingest(
        &url,
        "stack",
        json!([said("t6", "tc", "u3", "transcript.final", "line three")]),
    )
    .await;
    std::thread::sleep(Duration::from_millis(300));
    relay.open();
    one.wait_for("line three");
    all.wait_for("line three");
    ingest(
        &url,
        "stack",
        json!([
            said("t7", "tc", "u4", "transcript.partial", "PARTIAL four"),
            said("t8", "tc", "u4", "transcript.final", "line four"),
        ]),
    )
    .await;
    one.wait_for("line four");
    all.wait_for("line four");

    ingest(
        &url,
        "stack",
        json!([
            said("t9", "tc", "u5", "transcript.final", "line five"),
            {"id": "t10", "type": "call.ended", "provider_call_id": "tc", "outcome": "completed"},
        ]),
    )
    .await;
    assert_eq!(one.exit_code(), Some(0), "tail -f exits when the call ends");
    let texts: Vec<String> = one
        .seen
        .iter()
        .map(|l| {
            l.split_once("caller: ")
                .map_or(l.clone(), |(_, t)| t.to_string())
        })
        .collect();
    assert_eq!(
        texts,
        [
            "line zero",
            "line one",
            "line two",
            "line three",
            "line four",
            "line five"
        ],
        "every final line exactly once, in order, no partials: {:#?}",
        one.seen
    );

    all.wait_for("line five");
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(line) = all.lines.try_recv() {
        all.seen.push(line);
    }
    let entries: Vec<Value> = all
        .seen
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let texts: Vec<&str> = entries.iter().filter_map(|e| e["text"].as_str()).collect();
    assert_eq!(
        texts,
        [
            "line zero",
            "line one",
            "line two",
            "line three",
            "line four",
            "line five"
        ]
    );
    for e in &entries {
        assert_eq!(e["call_id"], id.as_str());
        assert_eq!(e["number"], "+15550003333");
        assert_eq!(e["speaker"], "caller");
        assert!(e["position"].is_u64() && e["at"].is_string(), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follow_on_a_terminal_revises_the_partial_in_place() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let control = control_stand_in().await;
    let config = write_config(dir.path(), &control);
    let (_gw, url) = start_gateway(dir.path(), &config, "127.0.0.1:0");
    ingest(
        &url,
        "stack",
        json!([
            started("p1", "pc", "+15550004444", "Pia"),
            said("p2", "pc", "u0", "transcript.final", "first words"),
        ]),
    )
    .await;
    let id = call_id(&url, "+15550004444").await;

    let tmux = Tmux::new("cw-headless");
    let status = dir.path().join("exit-status");
    let shell = format!(
        "CALLWATCH_URL='{url}' CALLWATCH_TOKEN='{TOKEN}' NO_COLOR=1 '{}' tail {} -f; echo $? > '{}'; sleep 30",
        bin(),
        &id[..8],
        status.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "cw",
        "-x",
        "100",
        "-y",
        "20",
        &shell,
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_screen("the first line", |s| s.contains("caller: first words"));

    ingest(
        &url,
        "stack",
        json!([said("p3", "pc", "u1", "transcript.partial", "I would li")]),
    )
    .await;
    tmux.wait_screen("the partial", |s| s.contains("caller: I would li …"));
    ingest(
        &url,
        "stack",
        json!([said(
            "p4",
            "pc",
            "u1",
            "transcript.partial",
            "I would like a hu"
        )]),
    )
    .await;
    let screen = tmux.wait_screen("the revised partial", |s| s.contains("I would like a hu …"));
    assert!(
        !screen.contains("I would li …"),
        "revised in place:\n{screen}"
    );

    ingest(
        &url,
        "stack",
        json!([
            said("p5", "pc", "u1", "transcript.final", "I would like a human please"),
            {"id": "p6", "type": "call.ended", "provider_call_id": "pc", "outcome": "completed"},
        ]),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status.exists() {
        assert!(
            Instant::now() < deadline,
            "tail -f did not exit:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        std::fs::read_to_string(&status).unwrap_or_default().trim(),
        "0"
    );
    let screen = tmux.capture();
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per utterance, no partial left:\n{screen}"
    );
    assert!(lines[0].ends_with("caller: first words"), "{screen}");
    assert!(
        lines[1].ends_with("caller: I would like a human please"),
        "{screen}"
    );
}
