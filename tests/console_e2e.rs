//! End to end: the real `callwatch` binary inside tmux against a real `callwatch serve
//! --simulate` child process. Keys are pressed through tmux; the gateway's REST API shows
//! what was recorded and `tmux capture-pane` shows what a user sees. Skipped (with a note)
//! when tmux is not installed and `CI` is unset; in CI a missing tmux fails.

#[path = "support/tmux.rs"]
mod tmux;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tmux::{tmux_or_skip, Tmux};

use serde_json::{json, Value};

const TOKEN: &str = "cw_e2e_supervisor_4f1d";
const SECRET: &str = "e2e-ingest-secret";

/// Kills the gateway child however the test ends.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shell around the console writes its exit status here (tmux's own `pane_dead_status`
/// can lag far behind on a loaded machine).
fn wait_exit_status(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s.trim().to_string();
            }
        }
        assert!(Instant::now() < deadline, "the console did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids whose parent is `pid` (Linux /proc, else `pgrep -P`).
fn children_of(pid: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may contain spaces, so split after ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if ppid == Some(pid) {
                out.push(name);
            }
        }
        return out;
    }
    Command::new("pgrep")
        .args(["-P", pid])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("config.toml");
    let text = format!(
        r#"
[[gateway.tokens]]
name = "e2e-sup"
token = "{TOKEN}"
org = "e2e"
role = "supervisor"

[[gateway.integrations]]
name = "hostile"
kind = "custom"
org = "e2e"
secret = "{SECRET}"
"#
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Starts `callwatch serve --simulate` and returns it with its base URL.
fn start_gateway(dir: &Path, config: &Path) -> (ChildGuard, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--db")
        .arg(dir.join("e2e.db"))
        .arg("--log-file")
        .arg(dir.join("gateway.log"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--simulate",
            "--seed",
            "11",
            "--speed",
            "1",
        ])
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
                let url = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway says where it listens");
    (guard, url)
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    async fn wait_call(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let call = self.get(&format!("/api/calls/{id}")).await;
            if pred(&call) {
                return call;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the gateway has {call}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn customer_number(call: &Value) -> String {
    let key = if call["direction"] == "inbound" {
        "from"
    } else {
        "to"
    };
    call[key].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_pause_resume_and_hostile_text_through_the_real_gateway() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let (_gateway, url) = start_gateway(dir.path(), &config);
    let api = Api {
        http: reqwest::Client::new(),
        url: url.clone(),
    };
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");

    let tmux = Tmux::new("cw-e2e");
    let console = format!(
        "'{}' --config '{}' --url '{}' --token-file '{}' --log-file '{}'; echo $? > '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        config.display(),
        url,
        token_file.display(),
        dir.path().join("console.log").display(),
        dir.path().join("exit-status").display()
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
    let title_before = tmux.format("#{pane_title}");

    tmux.wait_screen("a connected console with live calls", |s| {
        s.contains("● connected") && s.contains("● AI")
    });

    // The youngest call that the AI is handling has the longest life ahead of it.
    let active = api.get("/api/calls/active").await;
    let call = active["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["state"] == "in_progress")
        .max_by_key(|c| c["started_at"].as_str().unwrap_or_default().to_string())
        .cloned()
        .expect("an in-progress call");
    let id = call["id"].as_str().expect("id").to_string();
    let number = customer_number(&call);

    // Narrow the table to that call: it is then the selected row.
    tmux.keys(&["/"]);
    tmux.text(&number);
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the filtered table", |s| s.contains("(1 shown)"));

    tmux.keys(&["p"]);
    api.wait_call(&id, "the AI paused", |c| c["state"] == "ai_paused")
        .await;
    tmux.wait_screen("the paused call", |s| {
        s.contains("‖ PAUSED") && s.contains("done: pausing the AI")
    });

    tmux.keys(&["r"]);
    api.wait_call(&id, "the AI resumed", |c| c["state"] == "in_progress")
        .await;
    tmux.wait_screen("the resumed call", |s| s.contains("done: resuming the AI"));

    tmux.keys(&["t"]);
    tmux.wait_screen("the take-over dialog", |s| s.contains("Reason (required)"));
    tmux.text("e2e needs a human");
    tmux.keys(&["Enter"]);
    let taken = api
        .wait_call(&id, "the takeover", |c| c["state"] == "taken_over")
        .await;
    assert_eq!(taken["takeover"]["reason"], "e2e needs a human");
    assert_eq!(taken["takeover"]["by"], "e2e-sup");
    tmux.wait_screen("the taken-over call", |s| {
        s.contains("◆ HUMAN") && s.contains("done: taking over")
    });

    let audit = api.get(&format!("/api/audit?call_id={id}")).await;
    let actions: Vec<(String, String, bool)> = audit["entries"]
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["actor"].as_str().unwrap_or_default().to_string(),
                e["ok"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    for action in ["pause_ai", "resume_ai", "takeover"] {
        assert!(
            actions
                .iter()
                .any(|(a, who, ok)| a == action && who == "e2e-sup" && *ok),
            "the audit log lacks {action}: {actions:?}"
        );
    }

    // ---- hostile text through a signed ingest ----
    tmux.keys(&["/", "C-u"]);
    tmux.text("5550001111");
    tmux.keys(&["Enter"]);
    let long = "W".repeat(6000);
    let events = json!([
        {
            "id": "hostile-ev-1",
            "type": "call.started",
            "provider_call_id": "hostile-1",
            "direction": "inbound",
            "from": "+15550001111",
            "to": "+15550002222",
            "lead": {"name": "Eve\u{1b}]0;pwned\u{7}\u{202e}lived"},
            "state": "in_progress"
        },
        {
            "id": "hostile-ev-2",
            "type": "transcript.final",
            "provider_call_id": "hostile-1",
            "utterance_id": "u1",
            "speaker": "caller",
            "text": format!("{long}\u{1b}[5m tail-end")
        },
        {
            "id": "hostile-ev-3",
            "type": "transcript.final",
            "provider_call_id": "hostile-1",
            "utterance_id": "u2",
            "speaker": "caller",
            "text": "clip\u{1b}]52;c;ZXZpbA==\u{7}board \u{1b}[2J\u{1b}[31mred\u{1b}[0m \u{2066}iso\u{2069}"
        }
    ]);
    let body = serde_json::to_vec(&events).expect("json");
    let now = chrono::Utc::now().timestamp();
    let resp = api
        .http
        .post(format!("{url}/api/ingest"))
        .header("Callwatch-Integration", "hostile")
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

    let screen = tmux.wait_screen("the hostile call and its transcript", |s| {
        s.contains("Eve]0;pwned") && s.contains("clip]52;c;ZXZpbA==board") && s.contains("tail-end")
    });
    // The escape sequences lost their ESC: their remains are plain, visible text, and the
    // terminal did not act on them (no clear, no title change, no clipboard write).
    assert!(screen.contains("[2J[31mred[0m"), "{screen}");
    assert!(
        screen.contains("● connected"),
        "the screen was not cleared: {screen}"
    );
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        assert!(
            !screen.contains(bad),
            "{bad:?} reached the terminal: {screen}"
        );
    }
    assert_eq!(
        tmux.format("#{pane_title}"),
        title_before,
        "the pane title was changed"
    );

    // Quit restores the terminal and exits cleanly.
    tmux.keys(&["q"]);
    assert_eq!(
        wait_exit_status(&dir.path().join("exit-status")),
        "0",
        "q is a clean exit"
    );
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "q left the alternate screen"
    );
    let log = std::fs::read_to_string(dir.path().join("console.log")).unwrap_or_default();
    assert!(
        !log.contains(TOKEN),
        "the token leaked into the console log"
    );
}

/// A gateway that is down is shown as such; SIGTERM and SIGHUP (an SSH drop) leave through
/// the normal exit path, restoring the terminal (alternate screen off, exit status 0).
#[test]
fn down_gateway_is_shown_and_signals_restore_the_terminal() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let tmux = Tmux::new("cw-e2e-sig");
    for (i, signal) in ["TERM", "HUP"].iter().enumerate() {
        let session = format!("sig{i}");
        let console = format!(
            "'{}' --url '{}' --token t --log-file '{}'; echo $? > '{}'",
            env!("CARGO_BIN_EXE_callwatch"),
            url,
            dir.path().join("console.log").display(),
            dir.path().join(format!("exit-{signal}")).display()
        );
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "120",
            "-y",
            "30",
            &console,
            ";",
            "set-option",
            "-t",
            &session,
            "remain-on-exit",
            "on",
        ]);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fmt = |f: &str| {
            let out = tmux.cmd(&["display-message", "-p", "-t", &session, f]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = tmux.cmd(&["capture-pane", "-p", "-t", &session]);
            let screen = String::from_utf8_lossy(&out.stdout).into_owned();
            if screen.contains("Cannot reach the gateway") && screen.contains("reconnecting in") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no disconnected screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            fmt("#{alternate_on}"),
            "1",
            "the console draws on the alternate screen"
        );
        // The pane runs a shell; the console is its child.
        let shell = fmt("#{pane_pid}");
        let console = children_of(&shell);
        assert_eq!(
            console.len(),
            1,
            "one console under the pane's shell: {console:?}"
        );
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &console[0]])
            .status()
            .expect("kill");
        assert!(status.success());
        let code = wait_exit_status(&dir.path().join(format!("exit-{signal}")));
        assert_eq!(code, "0", "SIG{signal} is a clean exit");
        assert_eq!(
            fmt("#{alternate_on}"),
            "0",
            "SIG{signal} left the alternate screen"
        );
    }

    // An SSH drop: the terminal disappears (pty closed, SIGHUP). Restoring a terminal that
    // is gone must not crash the exit path: the console still stops cleanly.
    let log = dir.path().join("drop.log");
    let console = format!(
        "exec '{}' --url '{}' --token t --log-file '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        url,
        log.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "drop",
        "-x",
        "100",
        "-y",
        "30",
        &console,
    ]);
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("console starting")
    {
        assert!(Instant::now() < deadline, "the console did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    tmux.cmd(&["kill-session", "-t", "drop"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        // Whichever the console notices first, the hang-up or the dead pty (EIO on draw),
        // it must leave through its normal exit path, not a panic.
        let noticed = text.contains("SIGHUP: leaving") || text.contains("cannot draw; leaving");
        if noticed && text.contains("console stopped") {
            assert!(
                !text.contains("panicked"),
                "the exit path panicked:\n{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no clean stop after the terminal vanished:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every request the console makes, through the console's own runtime path
/// (`console::runtime::execute` -> `RestClient`), against the real gateway with the simulator
/// in-process: the answers decode into what `update()` expects, errors carry the gateway's
/// message. No terminal needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_request_against_the_real_gateway() {
    use callwatch::app::{start_gateway, SimulatorOptions};
    use callwatch::client::{ClientError, RestClient};
    use callwatch::console::runtime::execute;
    use callwatch::console::update::{CallAction, Reply, Request};
    use callwatch::core::model::Role;
    use callwatch::gateway::{GatewayConfig, GatewayOptions};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = GatewayConfig::default().with_token("e2e-sup", TOKEN, "e2e", Role::Supervisor);
    let options = GatewayOptions::new(config, dir.path().join("rt.db"));
    let sim = SimulatorOptions {
        seed: Some(5),
        calls_per_minute: None,
        speed: Some(1.0),
        ..SimulatorOptions::default()
    };
    let running = start_gateway(options, Some(&sim)).await.expect("gateway");
    let client = RestClient::new(&running.url(), TOKEN).expect("client");

    let deadline = Instant::now() + Duration::from_secs(20);
    let call = loop {
        let calls = client.active_calls().await.expect("active calls");
        if let Some(c) = calls
            .into_iter()
            .filter(|c| c.state == callwatch::core::model::CallState::InProgress)
            .max_by_key(|c| c.started_at)
        {
            break c;
        }
        assert!(Instant::now() < deadline, "no in-progress call");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = call.id.clone();
    let action = |r: Result<Reply, ClientError>| match r {
        Ok(Reply::Action(a)) => a,
        other => panic!("expected an action answer, got {other:?}"),
    };
    let said = action(
        execute(
            &client,
            Request::Act {
                call_id: id.clone(),
                action: CallAction::Say {
                    text: "one moment".into(),
                },
            },
        )
        .await,
    );
    assert_eq!(said.call.id, id);
    action(
        execute(
            &client,
            Request::Act {
                call_id: id.clone(),
                action: CallAction::Instruct {
                    text: "be brief".into(),
                },
            },
        )
        .await,
    );
    action(
        execute(
            &client,
            Request::Summarize {
                call_id: id.clone(),
            },
        )
        .await,
    );
    let ended = action(
        execute(
            &client,
            Request::Act {
                call_id: id.clone(),
                action: CallAction::End,
            },
        )
        .await,
    );
    assert_eq!(ended.action, "end");

    // Refused by the gateway: the error is its own sentence.
    let err = execute(
        &client,
        Request::Act {
            call_id: id.clone(),
            action: CallAction::ResumeAi,
        },
    )
    .await
    .expect_err("resuming a call whose AI is not paused fails");
    assert_eq!(err.status(), Some(409), "{err:?}");
    assert!(
        !err.to_string().is_empty() && !err.to_string().contains("HTTP"),
        "{err}"
    );

    // History (once the end is recorded) and opening the call.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match execute(
            &client,
            Request::History {
                q: String::new(),
                cursor: None,
            },
        )
        .await
        {
            Ok(Reply::History { calls, .. }) if calls.iter().any(|c| c.id == id) => break,
            Ok(Reply::History { .. }) => {}
            other => panic!("history: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the ended call never reached the history"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match execute(
        &client,
        Request::Open {
            call_id: id.clone(),
        },
    )
    .await
    {
        Ok(Reply::Detail { call, transcript }) => {
            assert_eq!(call.id, id);
            assert!(!call.state.is_active());
            assert!(!transcript.is_empty(), "the opened call has its transcript");
        }
        other => panic!("open: {other:?}"),
    }

    // Queue: two scheduled calls; dial one now, cancel the other.
    let http = reqwest::Client::new();
    let mut items = Vec::new();
    for (name, number) in [("Ada", "+15550103001"), ("Ben", "+15550103002")] {
        let item: Value = http
            .post(format!("{}/api/calls/initiate", running.url()))
            .bearer_auth(TOKEN)
            .json(&json!({
                "leadName": name,
                "phoneNumber": number,
                "scheduledAt": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
            }))
            .send()
            .await
            .expect("initiate")
            .json()
            .await
            .expect("queue item");
        items.push(item["id"].as_str().expect("item id").to_string());
    }
    let queue = client.queue().await.expect("queue");
    assert!(items.iter().all(|i| queue.iter().any(|q| &q.id == i)));
    match execute(
        &client,
        Request::DialNow {
            item_id: items[0].clone(),
        },
    )
    .await
    {
        Ok(Reply::QueueItem(Some(item))) => assert_eq!(item.id, items[0]),
        other => panic!("dial now: {other:?}"),
    }
    match execute(
        &client,
        Request::CancelQueued {
            item_id: items[1].clone(),
        },
    )
    .await
    {
        Ok(Reply::QueueItem(Some(item))) => {
            assert_eq!(item.state, callwatch::core::model::QueueState::Cancelled)
        }
        other => panic!("cancel: {other:?}"),
    }
    let err = execute(
        &client,
        Request::Act {
            call_id: "no-such-call".into(),
            action: CallAction::PauseAi,
        },
    )
    .await
    .expect_err("unknown id");
    assert_eq!(err.status(), Some(404), "{err:?}");
    running.shutdown().await;
}

/// The defect this guards against: a Say dialog open on a call that another supervisor ends.
/// The dialog used to close by itself and the rest of the typing ran as keys on the screen
/// behind (sort, move, take over a stranger's call with Enter). Now it stays, says why, and
/// swallows the keys until Esc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialog_outlives_its_call_and_keeps_the_keys() {
    use callwatch::client::RestClient;

    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let (_gateway, url) = start_gateway(dir.path(), &config);
    let api = Api {
        http: reqwest::Client::new(),
        url: url.clone(),
    };
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let tmux = Tmux::new("cw-e2e-dlg");
    let console = format!(
        "'{}' --config '{}' --url '{}' --token-file '{}' --log-file '{}'; echo $? > '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        config.display(),
        url,
        token_file.display(),
        dir.path().join("console.log").display(),
        dir.path().join("exit-status").display()
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
    tmux.wait_screen("a connected console with live calls", |s| {
        s.contains("● connected") && s.contains("● AI")
    });

    // Select one in-progress call (filter to it, then clear the filter: it stays selected
    // among the others), and open Say on it.
    let active = api.get("/api/calls/active").await;
    let call = active["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["state"] == "in_progress")
        .max_by_key(|c| c["started_at"].as_str().unwrap_or_default().to_string())
        .cloned()
        .expect("an in-progress call");
    let id = call["id"].as_str().expect("id").to_string();
    tmux.keys(&["/"]);
    tmux.text(&customer_number(&call));
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the filtered table", |s| s.contains("(1 shown)"));
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the whole table", |s| !s.contains("shown)"));
    tmux.keys(&["s"]);
    tmux.wait_screen("the say dialog", |s| s.contains("Say to"));
    tmux.text("one mom");

    // Someone else ends the call while the supervisor is typing.
    let rest = RestClient::new(&url, TOKEN).expect("client");
    rest.act(&id, &callwatch::core::action::Action::End)
        .await
        .expect("end the call");
    tmux.wait_screen("the dialog saying its call ended", |s| {
        s.contains("Say to") && s.contains("this call has ended")
    });

    // The rest of the typing, and a reflexive Enter.
    tmux.text("otk");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_screen("the refused submit", |s| {
        s.contains("cannot say: this call has ended")
    });
    assert!(
        screen.contains("Say to"),
        "the dialog is still open: {screen}"
    );
    assert!(
        !screen.contains("Reason (required)"),
        "no take-over dialog opened behind: {screen}"
    );
    assert!(
        screen.contains("sort: needs attention"),
        "the sort did not change: {screen}"
    );
    let audit = api.get("/api/audit").await;
    let entries = audit["entries"].as_array().expect("audit entries");
    assert!(
        !entries
            .iter()
            .any(|e| e["action"] == "takeover" || e["action"] == "say"),
        "nothing was sent: {entries:?}"
    );

    // Esc closes it; q then quits as usual.
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the dialog closed", |s| !s.contains("Say to"));
    tmux.keys(&["q"]);
    assert_eq!(wait_exit_status(&dir.path().join("exit-status")), "0");
}

/// An alert the simulator raises is listed with its message on the Alerts screen, stays there
/// after its call ends (and has left the table), and Enter on it opens the call's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_stays_listed_after_its_call_ends_and_opens_its_history() {
    if !tmux_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path());
    let (_gateway, url) = start_gateway(dir.path(), &config);
    let api = Api {
        http: reqwest::Client::new(),
        url: url.clone(),
    };
    // The console's own config: ended calls leave the table at once.
    let console_config = dir.path().join("console.toml");
    std::fs::write(&console_config, "[console]\nlinger_secs = 0\n").expect("console config");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let tmux = Tmux::new("cw-e2e-alert");
    let console = format!(
        "'{}' --config '{}' --url '{}' --token-file '{}' --log-file '{}'; echo $? > '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        console_config.display(),
        url,
        token_file.display(),
        dir.path().join("console.log").display(),
        dir.path().join("exit-status").display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "cw",
        "-x",
        "180",
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
    tmux.wait_screen("a connected console", |s| s.contains("● connected"));

    // Wait for the simulator to raise an alert on a live call.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (call, message) = loop {
        let active = api.get("/api/calls/active").await;
        let hit = active["calls"].as_array().and_then(|calls| {
            calls.iter().find_map(|c| {
                let m = c["alerts"][0]["message"].as_str()?.to_string();
                Some((c.clone(), m))
            })
        });
        if let Some(hit) = hit {
            break hit;
        }
        assert!(
            Instant::now() < deadline,
            "the simulator raised no alert: {active}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let id = call["id"].as_str().expect("id").to_string();
    tmux.keys(&["5"]);
    tmux.wait_screen("the alert with its message", |s| {
        s.contains("Alerts (") && s.contains(&message)
    });

    // The call ends (a supervisor elsewhere): the alert stays listed, its call shown ended.
    let resp = api
        .http
        .post(format!("{url}/api/calls/{id}/end"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("end");
    assert!(resp.status().is_success(), "end: {}", resp.status());
    api.wait_call(&id, "the call ended", |c| c["state"] == "ended")
        .await;
    let screen = tmux.wait_screen("the alert kept after the call ended", |s| {
        s.contains(&message) && s.contains("✓ ENDED")
    });
    // Gone from the live table (linger 0): the Calls screen no longer lists it as live.
    assert!(screen.contains("Alerts ("), "{screen}");

    // Enter on that call's alert opens its history entry. New alerts may arrive meanwhile
    // and move the row: select it, check it is still there, else again.
    let target = |screen: &str| {
        screen
            .lines()
            .filter(|l| l.contains("⚠"))
            .position(|l| l.contains(&message) && l.contains("✓ ENDED"))
            .expect("the ended call's alert row")
    };
    let mut row = target(&screen);
    loop {
        tmux.keys(&["g"]);
        for _ in 0..row {
            tmux.keys(&["j"]);
        }
        let now = target(&tmux.capture());
        if now == row {
            break;
        }
        row = now;
    }
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the call's history entry", |s| {
        s.contains("Outcome") && s.contains("ended_by_supervisor")
    });
    tmux.keys(&["q"]);
    assert_eq!(wait_exit_status(&dir.path().join("exit-status")), "0");
}

/// Starts a console for `token` in its own tmux server.
fn console_in_tmux(dir: &Path, name: &str, url: &str, token: &str) -> Tmux {
    let token_file = dir.join(format!("token-{name}"));
    std::fs::write(&token_file, token).expect("token file");
    let tmux = Tmux::new(&format!("cw-e2e-{name}"));
    let console = format!(
        "'{}' --url '{}' --token-file '{}' --log-file '{}'",
        env!("CARGO_BIN_EXE_callwatch"),
        url,
        token_file.display(),
        dir.join(format!("console-{name}.log")).display(),
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "cw",
        "-x",
        "170",
        "-y",
        "40",
        &console,
    ]);
    assert!(
        out.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_screen("a connected console", |s| s.contains("● connected"));
    tmux
}

/// Two real consoles on one gateway: each sees the other looking at the same call, and the
/// name goes away when the other looks elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_between_two_consoles() {
    if !tmux_or_skip() {
        return;
    }
    const OTHER: &str = "cw_e2e_supervisor_two_9c2e";
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[gateway.tokens]]\nname = \"ann\"\ntoken = \"{TOKEN}\"\norg = \"e2e\"\nrole = \"supervisor\"\n\n\
             [[gateway.tokens]]\nname = \"bob\"\ntoken = \"{OTHER}\"\norg = \"e2e\"\nrole = \"supervisor\"\n"
        ),
    )
    .expect("config");
    let (_gateway, url) = start_gateway(dir.path(), &config);
    let api = Api {
        http: reqwest::Client::new(),
        url: url.clone(),
    };
    let ann = console_in_tmux(dir.path(), "ann", &url, TOKEN);
    let bob = console_in_tmux(dir.path(), "bob", &url, OTHER);

    // The youngest call the AI handles has the longest life ahead of it.
    let active = api.get("/api/calls/active").await;
    let call = active["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .filter(|c| c["state"] == "in_progress")
        .max_by_key(|c| c["started_at"].as_str().unwrap_or_default().to_string())
        .cloned()
        .expect("an in-progress call");
    let number = customer_number(&call);
    for console in [&ann, &bob] {
        console.keys(&["/"]);
        console.text(&number);
        console.keys(&["Enter"]);
    }
    ann.wait_screen("bob watching the same call", |s| {
        s.contains("also watching: bob")
    });
    bob.wait_screen("ann watching the same call", |s| {
        s.contains("also watching: ann")
    });
    // Bob looks at the queue: Ann no longer sees him on the call.
    bob.keys(&["2"]);
    ann.wait_screen("bob gone from the call", |s| {
        !s.contains("also watching") && s.contains(&number)
    });
}
