use clap::error::ErrorKind;
use clap::Parser;

use callwatch::app::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage(err),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("callwatch: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(callwatch::app::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("callwatch: {err:#}");
            std::process::ExitCode::from(callwatch::app::exit_code(&err))
        }
    }
}

/// Help and version print as clap renders them; a usage error becomes one line on stderr
/// (scripts log it whole) and exit code 2.
fn usage(err: clap::Error) -> std::process::ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return std::process::ExitCode::SUCCESS;
    }
    let text = err.render().to_string();
    let what: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let what = what.join(" ");
    let what = what.strip_prefix("error: ").unwrap_or(&what);
    eprintln!("callwatch: {what} (see --help)");
    std::process::ExitCode::from(2)
}
