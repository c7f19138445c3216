//! The ratatui console (issue: the console).

/// Runs the console until the user quits.
pub async fn run(args: crate::cli::ConsoleArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("the console is being built")
}

/// Gateway + simulator + console in one process.
pub async fn demo(
    console: crate::cli::ConsoleArgs,
    args: crate::cli::DemoArgs,
) -> anyhow::Result<()> {
    let _ = (console, args);
    anyhow::bail!("the demo is being built")
}
