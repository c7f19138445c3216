//! Logging to a file, never to the terminal the console draws on. `CALLWATCH_LOG` (then
//! `RUST_LOG`) sets the filter, `info` by default.

use std::path::Path;

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;

/// Starts logging to `path` (appending); keep the guard alive until exit so the last lines
/// are flushed.
pub fn init(path: &Path) -> anyhow::Result<WorkerGuard> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.create(true).append(true);
    // Logs name callers and actions: owner-only, whatever the umask.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let file = open
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    #[cfg(unix)]
    restrict_to_owner(path)?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("CALLWATCH_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests, the demo's console after its gateway) keeps the first.
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(guard)
}

/// The console must start even where its log file cannot be written: it runs without one.
pub fn init_optional(path: Option<&Path>) -> Option<WorkerGuard> {
    init(path?).ok()
}

/// `mode` on open only applies to a new file; an existing one is tightened too.
#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict the permissions of {}", path.display()))
}
