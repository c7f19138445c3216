//! The processes under test: `callwatch serve` (the release binary, a temp config and
//! database) and the Node Socket.IO peer, each a child of the bench so its RSS is its own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

pub const VIEWER: &str = "cw_bench_viewer_7d1c5a";
pub const SUPERVISOR: &str = "cw_bench_supervisor_0b9e42";
pub const SECRET: &str = "whsec_bench_suite";
pub const INTEGRATION: &str = "bench";
pub const ORG: &str = "bench";

/// Raises the open-file limit to its hard limit: 1,000 clients and 1,000 server sockets.
/// Children inherit it.
pub fn raise_fd_limit() -> libc::rlim_t {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

/// Resident set size of a process in bytes (Linux /proc), `None` when it is gone.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Kills the child however the bench ends.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGTERM first so the gateway closes its database cleanly; SIGKILL if it lingers.
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the busy floors run: `--simulate` with these knobs.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub calls_per_minute: f64,
    /// Simulated time compression (the event rate scales with it, the live count does not).
    pub speed: f64,
    pub max_concurrent: usize,
    pub seed: u64,
}

pub struct Gateway {
    pub url: String,
    pub child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    pub fn rss(&self) -> u64 {
        rss_bytes(self.pid()).unwrap_or(0)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("{}{path}", self.url.replacen("http", "ws", 1))
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// A `callwatch serve` child on a free loopback port, with a temp config and database.
    pub fn start(bin: &Path, floor: Option<Floor>) -> anyhow::Result<Gateway> {
        let dir = tempfile::tempdir()?;
        let config = dir.path().join("config.toml");
        std::fs::write(&config, config_text())?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--db")
            .arg(dir.path().join("bench.db"))
            .arg("--log-file")
            .arg(dir.path().join("gateway.log"))
            .args(["--listen", "127.0.0.1:0"]);
        if let Some(f) = floor {
            cmd.args(["--simulate", "--speed", &f.speed.to_string()])
                .args(["--seed", &f.seed.to_string()])
                .args(["--calls-per-minute", &f.calls_per_minute.to_string()])
                .args(["--max-concurrent", &f.max_concurrent.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let child = ChildGuard(child);
        let url = first_line_matching(stderr, |line| {
            line.split("listening on ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        })
        .context("the gateway did not say where it listens (see its log)")?;
        Ok(Gateway {
            url,
            child,
            _dir: dir,
        })
    }
}

fn config_text() -> String {
    format!(
        r#"
[[gateway.tokens]]
name = "bench-viewer"
token = "{VIEWER}"
org = "{ORG}"
role = "viewer"

[[gateway.tokens]]
name = "bench-supervisor"
token = "{SUPERVISOR}"
org = "{ORG}"
role = "supervisor"

[[gateway.integrations]]
name = "{INTEGRATION}"
kind = "custom"
org = "{ORG}"
secret = "{SECRET}"

# The bench is one address sending as fast as it can: the per-address and per-integration
# ingest limits would measure themselves, not the gateway.
[gateway.limits]
ingest_per_minute_per_address = 1000000000
ingest_per_minute_per_integration = 1000000000
"#
    )
}

/// Reads lines of a child's output on a thread until `pick` finds something (30 s at
/// most), then keeps draining so the child never blocks on a full pipe.
fn first_line_matching<R: std::io::Read + Send + 'static>(
    out: R,
    pick: impl Fn(&str) -> Option<String> + Send + 'static,
) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(found) = pick(&line) {
                let _ = tx.send(found);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).ok()
}

pub fn node_peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/node-peer")
}

/// `Ok` when Node can run the peer (installing it with `npm ci` once when node_modules is
/// missing); `Err` says why the Node part is skipped.
pub fn node_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let node = Command::new("node").arg("--version").output();
            if !node.as_ref().is_ok_and(|o| o.status.success()) {
                return Err("node is not installed".into());
            }
            let dir = node_peer_dir();
            if dir.join("node_modules/socket.io").is_dir() {
                return Ok(());
            }
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .output()
                .map_err(|e| format!("cannot run npm: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "npm ci failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(())
        })
        .clone()
}

pub struct NodePeer {
    pub url: String,
    pub child: ChildGuard,
}

impl NodePeer {
    pub fn start() -> anyhow::Result<NodePeer> {
        if let Err(why) = node_ready() {
            bail!("{why}");
        }
        let mut child = Command::new("node")
            .arg(node_peer_dir().join("server.js"))
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start node")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let child = ChildGuard(child);
        let port = first_line_matching(stdout, |line| {
            let v: Value = serde_json::from_str(line).ok()?;
            v["listening"].as_u64().map(|p| p.to_string())
        })
        .context("the Node peer did not say where it listens")?;
        Ok(NodePeer {
            url: format!("http://127.0.0.1:{port}"),
            child,
        })
    }

    pub fn rss(&self) -> u64 {
        rss_bytes(self.child.0.id()).unwrap_or(0)
    }
}
