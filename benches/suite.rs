//! The performance suite (issue 12): every figure docs/PERFORMANCE.md records, in one run,
//! against the release `callwatch serve` as a child process on loopback (so RSS is the
//! gateway's own), next to a minimal Node Socket.IO 4 server doing what the seed backend does.
//!
//!   cargo bench --bench suite                 # full run (≤ 15 min)
//!   cargo bench --bench suite -- --quick      # every phase shortened (a smoke run, 3-5 min)
//!   cargo bench --bench suite -- --only fanout,memory
//!   benches/run-suite.sh [--quick] [--write-doc]
//!
//! Phases: ingest, fanout, memory, floor (bytes/s to a console and console event -> screen
//! on a busy floor), rss (gateway RSS over 5 minutes of 1,000 live calls). Prints a table
//! (metric, value, goal, met?) and the same table in Markdown between the markers of
//! docs/PERFORMANCE.md.

#[path = "suite/console.rs"]
mod console;
#[path = "suite/fanout.rs"]
mod fanout;
#[path = "suite/floor.rs"]
mod floor;
#[path = "suite/ingest.rs"]
mod ingest;
#[path = "suite/memory.rs"]
mod memory;
#[path = "suite/procs.rs"]
mod procs;
#[path = "suite/report.rs"]
mod report;
#[path = "suite/ws.rs"]
mod ws;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use report::Table;

/// How long each phase runs: `--quick` shortens all of them.
pub struct Settings {
    pub bin: PathBuf,
    pub ingest_secs: Duration,
    pub fan_secs: Duration,
    pub fan_drain: Duration,
    pub settle: Duration,
    pub floor_warmup: Duration,
    pub bandwidth_window: Duration,
    pub console_samples: usize,
    pub rss_step: Duration,
}

impl Settings {
    fn new(quick: bool) -> Settings {
        let bin = std::env::var_os("CALLWATCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_callwatch")));
        if quick {
            Settings {
                bin,
                ingest_secs: Duration::from_secs(3),
                fan_secs: Duration::from_secs(3),
                fan_drain: Duration::from_secs(10),
                settle: Duration::from_secs(1),
                floor_warmup: Duration::from_secs(5),
                bandwidth_window: Duration::from_secs(8),
                console_samples: 20,
                rss_step: Duration::from_secs(6),
            }
        } else {
            Settings {
                bin,
                ingest_secs: Duration::from_secs(10),
                fan_secs: Duration::from_secs(10),
                fan_drain: Duration::from_secs(30),
                settle: Duration::from_secs(3),
                floor_warmup: Duration::from_secs(45),
                bandwidth_window: Duration::from_secs(30),
                console_samples: 100,
                rss_step: Duration::from_secs(60),
            }
        }
    }
}

const PHASES: &[&str] = &["ingest", "fanout", "memory", "floor", "rss"];

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores (nproc), {cpu}")
}

/// The 1-minute load average: figures taken while other work loads the machine are not
/// comparable, so every run records it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn failed(table: &mut Table, phase: &str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        table.note(format!("phase {phase} failed: {e:#}"));
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // cargo passes `--bench`; anything else unknown is refused so typos do not go unnoticed.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut quick = false;
    let mut only: Vec<String> = PHASES.iter().map(|s| s.to_string()).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--bench" => {}
            "--only" => {
                let list = it.next().map(String::as_str).unwrap_or_default();
                only = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = only.iter().find(|p| !PHASES.contains(&p.as_str())) {
                    anyhow::bail!("unknown phase {bad:?}; phases: {}", PHASES.join(","));
                }
            }
            other => anyhow::bail!(
                "unknown argument {other:?}; use --quick and/or --only {}",
                PHASES.join(",")
            ),
        }
    }
    let settings = Settings::new(quick);
    anyhow::ensure!(
        settings.bin.exists(),
        "no callwatch binary at {} (build it with `cargo build --release`)",
        settings.bin.display()
    );
    let fds = procs::raise_fd_limit();
    println!(
        "callwatch suite{}: {}; open-file limit {fds}; binary {}",
        if quick { " (--quick)" } else { "" },
        machine(),
        settings.bin.display()
    );
    let started = Instant::now();
    let mut table = Table::default();
    let wants = |p: &str| only.iter().any(|o| o == p);
    let load_before = load_average();
    // A phase that fails is reported under the table; the others still run.
    if wants("ingest") {
        println!("== signed ingest");
        let r = ingest::run(&settings, &mut table).await;
        failed(&mut table, "ingest", r);
    }
    if wants("fanout") {
        println!("== fan-out, callwatch and the Node Socket.IO peer");
        let r = fanout::run(&settings, &mut table).await;
        failed(&mut table, "fanout", r);
    }
    if wants("memory") {
        println!("== memory per idle connection");
        let r = memory::run(&settings, &mut table).await;
        failed(&mut table, "memory", r);
    }
    if wants("floor") {
        println!("== busy floor: bytes to a console, console event -> screen");
        match floor::start_busy(&settings).await {
            Ok((gw, live)) => {
                let r = floor::console_bandwidth(&gw, live, &settings, &mut table).await;
                failed(&mut table, "floor (bytes to a console)", r);
                console::run(&gw, live, &settings, &mut table).await;
            }
            Err(e) => failed(&mut table, "floor", Err(e)),
        }
    }
    if wants("rss") {
        println!("== gateway RSS over time, flat floor of 1,000 live calls");
        let r = floor::rss_over_time(&settings, &mut table).await;
        failed(&mut table, "rss", r);
    }
    table.print();
    let command = format!(
        "benches/run-suite.sh{}",
        if quick { " --quick" } else { "" }
    );
    let header = format!(
        "Run {} on {}; `{command}` ({:.0} s; load average {load_before} before, {} after).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine(),
        started.elapsed().as_secs_f64(),
        load_average()
    );
    println!("\nMarkdown for docs/PERFORMANCE.md:\n");
    print!("{}", table.markdown(&header));
    Ok(())
}
