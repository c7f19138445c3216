use clap::Parser;

use callwatch::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("callwatch: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Some(Command::Serve(mut args)) => {
                args.log_file = cli.console.log_file.clone();
                callwatch::gateway::serve(cli.console.config.clone(), args).await
            }
            Some(Command::Demo(args)) => callwatch::console::demo(cli.console, args).await,
            None => callwatch::console::run(cli.console).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("callwatch: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
