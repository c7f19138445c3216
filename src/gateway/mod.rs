//! `callwatch serve`: the call backend (issue: gateway core).

pub mod provider;

/// Runs the gateway until SIGINT/SIGTERM.
pub async fn serve(
    config: Option<std::path::PathBuf>,
    args: crate::cli::ServeArgs,
) -> anyhow::Result<()> {
    let _ = (config, args);
    anyhow::bail!("the gateway is being built")
}
