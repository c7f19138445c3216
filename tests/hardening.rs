//! The gateway under hostile or careless clients, through real sockets: idle and half-sent
//! connections, requests hyper cannot parse, TLS. Each test starts its own gateway on
//! 127.0.0.1:0 and stops it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use callwatch::core::model::Role;
use callwatch::gateway::{start, GatewayConfig, GatewayOptions};
use serde_json::Value;

const TOKEN: &str = "cw_test_supervisor";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// Sends raw bytes and reads the whole answer (the server closes after an error).
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything we send.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let json = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{status} body {body:?} is not JSON: {e}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_hyper_answers_itself_have_json_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig::default().with_token("sup", TOKEN, "acme", Role::Supervisor);
    let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
        .await
        .unwrap();
    let addr = running.addr;
    let checks = tokio::task::spawn_blocking(move || {
        let long_query = format!(
            "GET /api/calls?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
            "a".repeat(100 * 1024)
        );
        let big_header = format!(
            "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "b".repeat(600 * 1024)
        );
        [
            raw_exchange(addr, long_query.as_bytes()),
            raw_exchange(addr, big_header.as_bytes()),
            raw_exchange(addr, b"NOT HTTP AT ALL\r\n\r\n"),
        ]
    })
    .await
    .unwrap();
    let statuses: Vec<u16> = checks.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [414, 431, 400]);
    for (_, body) in &checks {
        assert!(
            body["error"].is_string() && body["message"].is_string(),
            "{body}"
        );
    }
    // The gateway keeps serving.
    let ok = reqwest::get(format!("{}/healthz", running.url()))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = GatewayConfig::default().with_token("sup", TOKEN, "acme", Role::Supervisor);
    config.server.tls_cert = Some(fixture("cert.pem"));
    config.server.tls_key = Some(fixture("key.pem"));
    let running = start(GatewayOptions::new(config, dir.path().join("cw.db")))
        .await
        .unwrap();
    assert!(running.url().starts_with("https://"), "{}", running.url());
    let cert =
        reqwest::Certificate::from_pem(&std::fs::read(fixture("cert.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/api/calls/active", running.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Plain HTTP to the TLS port is refused, not left hanging.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", running.addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered on the TLS port");
    running.shutdown().await;
}

#[test]
fn a_certificate_without_its_key_is_a_clear_start_up_error() {
    let mut config = GatewayConfig::default().with_token("sup", TOKEN, "acme", Role::Supervisor);
    config.server.tls_cert = Some(fixture("cert.pem"));
    let err = callwatch::gateway::server::Listener::new(&config.server)
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("both a certificate and a key"),
        "{err}"
    );
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `callwatch serve` with an open-file limit of 1,024, as on a default Linux account, and
/// the most permissive umask.
fn serve_with_fd_limit(dir: &Path, header_timeout_secs: u64) -> (Serve, String) {
    let config = dir.join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\n[[gateway.tokens]]\nname = \"sup\"\ntoken = \"{TOKEN}\"\norg = \"acme\"\nrole = \"supervisor\"\n[gateway.server]\nheader_read_timeout_secs = {header_timeout_secs}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && ulimit -n 1024 && exec \"$0\" serve --config \"$1\" --db \"$2\" --log-file \"$3\" --listen 127.0.0.1:0")
        .arg(env!("CARGO_BIN_EXE_callwatch"))
        .arg(&config)
        .arg(dir.join("cw.db"))
        .arg(dir.join("gw.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (Serve(child), url)
}

fn healthz(addr: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.get(9..12)?.parse().ok()?;
    let body = serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()?;
    Some((status, body))
}

#[test]
fn half_open_connections_are_closed_and_healthz_answers_throughout() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, url) = serve_with_fd_limit(dir.path(), 2);
    let addr = url.trim_start_matches("http://").to_string();
    // 1,100 clients that send half a request line and then nothing: more than the process
    // may hold open at a limit of 1,024 files.
    let mut idle = Vec::new();
    for _ in 0..1100 {
        let mut s = TcpStream::connect(&addr).expect("the gateway still accepts");
        let _ = s.write_all(b"GET /hea");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        idle.push(s);
    }
    // Meanwhile a new client always gets an answer: 200, or the JSON 503 while full.
    let (status, body) = healthz(&addr).expect("healthz answers during the flood");
    assert!(
        status == 200 || (status == 503 && body["error"] == "unavailable"),
        "{status} {body}"
    );
    // Every idle socket is closed by the gateway (EOF, or the 503 then EOF).
    let mut closed = 0;
    for mut s in idle {
        let mut buf = Vec::new();
        match s.read_to_end(&mut buf) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
            Err(e) => panic!("an idle connection was not closed: {e}"),
        }
    }
    assert_eq!(closed, 1100);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match healthz(&addr) {
            Some((200, body)) => {
                assert_eq!(body["status"], "ok");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "healthz after the flood: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn database_and_log_files_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (_serve, url) = serve_with_fd_limit(dir.path(), 10);
    // A write, so that SQLite has its WAL and shared-memory files.
    let body = r#"{"phoneNumber": "+15550001234", "scheduledAt": "2099-01-01T00:00:00Z"}"#;
    let request = format!(
        "POST /api/calls/initiate HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = url.trim_start_matches("http://").parse().unwrap();
    let (status, answer) = raw_exchange(addr, request.as_bytes());
    assert!((200..300).contains(&status), "{status} {answer}");
    for name in ["cw.db", "cw.db-wal", "cw.db-shm", "gw.log"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}
