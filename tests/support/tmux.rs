//! The terminal tests' tmux harness: a private tmux server (own socket, no user config)
//! with one session named `cw`, killed however the test ends. Each test file includes it
//! with `#[path]`; not every file uses every method.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The session every terminal test runs its program in.
pub const SESSION: &str = "cw";

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A server on its own socket; `name` keeps parallel tests apart.
    pub fn new(name: &str) -> Tmux {
        Tmux {
            socket: format!("{name}-{}", std::process::id()),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    pub fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    pub fn text(&self, text: &str) {
        self.cmd(&["send-keys", "-t", SESSION, "-l", text]);
    }

    pub fn format(&self, f: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", SESSION, f]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Polls the screen until `pred` holds; panics with the last screen otherwise.
    pub fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(25);
        loop {
            let screen = self.capture();
            if pred(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Whether the terminal tests can run. Without tmux they are skipped with a note, but only
/// outside CI: with `CI` set a missing tmux fails, so a green CI run always drove the real
/// terminal.
pub fn tmux_or_skip() -> bool {
    let available = Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is not installed and CI is set: the terminal tests must run in CI"
        );
        eprintln!("SKIPPED (CI unset): tmux is not installed; this terminal test needs it");
    }
    available
}
