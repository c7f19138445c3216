//! `callwatch completions SHELL` and `callwatch man`: generated from the same clap
//! definition the binary parses with, so they never drift from it.

use std::io::Write;

use clap::CommandFactory;

use super::CmdResult;
use crate::app::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> CmdResult {
    let mut command = Cli::command();
    // Into memory first: the generator panics when its writer fails (a closed pipe).
    let mut buffer = Vec::new();
    clap_complete::generate(shell, &mut command, "callwatch", &mut buffer);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buffer)?;
    stdout.flush()?;
    Ok(())
}

pub fn man() -> CmdResult {
    let page = clap_mangen::Man::new(Cli::command());
    let mut buffer = Vec::new();
    page.render(&mut buffer)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&buffer)?;
    stdout.flush()?;
    Ok(())
}
