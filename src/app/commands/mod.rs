//! Headless commands: the console's data and actions for scripts and one-liners, through
//! the UI-free client. Errors become one line on stderr and a documented exit code
//! (docs/HEADLESS.md).

mod act;
mod docs;
mod output;
mod read;
mod resolve;
mod tail;

use std::fmt;

use super::cli::{Cli, Command};
use crate::client::{ClientError, RestClient};
use crate::console::config::ConsoleOptions;

pub use docs::{completions, man};

/// Exit codes of the headless commands; docs/HEADLESS.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: the gateway failed, the provider failed, an unexpected answer.
    Failure = 1,
    /// Bad arguments, configuration, or input the gateway refused as invalid.
    Usage = 2,
    /// The token is missing, refused, or its role may not do this.
    Auth = 3,
    /// No such call or queue item.
    NotFound = 4,
    /// The call's state does not allow it (already ended, already taken over...).
    Conflict = 5,
    /// The call's provider cannot do this.
    Unsupported = 6,
    /// The gateway cannot be reached.
    Unreachable = 7,
}

/// A command's failure: what to print and which code to exit with.
#[derive(Debug)]
pub struct CommandError {
    pub exit: Exit,
    pub message: String,
}

impl CommandError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CommandError {
            exit,
            message: message.into(),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

impl From<ClientError> for CommandError {
    fn from(err: ClientError) -> Self {
        let exit = match &err {
            ClientError::Unreachable { .. } => Exit::Unreachable,
            ClientError::InvalidUrl { .. } => Exit::Usage,
            ClientError::Protocol { .. } => Exit::Failure,
            ClientError::Api { status, code, .. } => match (*status, code.as_str()) {
                (401 | 403, _) => Exit::Auth,
                (404, _) => Exit::NotFound,
                (409, _) => Exit::Conflict,
                (_, "unsupported") => Exit::Unsupported,
                (400 | 422, _) => Exit::Usage,
                _ => Exit::Failure,
            },
        };
        // Messages come from the gateway: clean them like any other remote text.
        CommandError::new(exit, output::clean(&err.to_string()))
    }
}

impl From<std::io::Error> for CommandError {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            return CommandError::new(Exit::Failure, CLOSED_PIPE);
        }
        CommandError::new(Exit::Failure, format!("cannot write the output: {err}"))
    }
}

/// The reader went away (`| head`): a normal end for a command line tool, not an error.
const CLOSED_PIPE: &str = "the output pipe was closed";

pub type CmdResult = Result<(), CommandError>;

/// The exit code for an error out of [`super::run`]: the command's own, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.downcast_ref::<CommandError>()
        .map_or(Exit::Failure as u8, |e| e.exit as u8)
}

/// Connection settings, resolved like the console's (flags > environment > config file).
pub struct Ctx {
    pub client: RestClient,
    pub url: String,
    pub token: String,
}

fn connect(options: &ConsoleOptions) -> Result<Ctx, CommandError> {
    let config = crate::console::config::load(options)
        .map_err(|e| CommandError::new(Exit::Usage, format!("{e:#}")))?;
    let client = RestClient::new(&config.url, &config.token)?;
    Ok(Ctx {
        client,
        url: config.url,
        token: config.token,
    })
}

/// Runs a headless command; `None` when `command` is not one (serve, demo).
pub async fn run(cli: &Cli) -> Option<CmdResult> {
    let result = dispatch(cli).await?;
    Some(match result {
        Err(e) if e.message == CLOSED_PIPE => Ok(()),
        other => other,
    })
}

async fn dispatch(cli: &Cli) -> Option<CmdResult> {
    let command = cli.command.as_ref()?;
    match command {
        Command::Serve(_) | Command::Demo(_) | Command::Migrate(_) => return None,
        Command::Completions(args) => return Some(completions(args.shell)),
        Command::Man => return Some(man()),
        _ => {}
    }
    let ctx = match connect(&cli.console.options()) {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let out = output::Out::detect();
    Some(match command {
        Command::Calls(a) => read::calls(&ctx, &out, a).await,
        Command::Show(a) => read::show(&ctx, &out, a).await,
        Command::History(a) => read::history(&ctx, &out, a).await,
        Command::Analytics(a) => read::analytics(&ctx, &out, a.json).await,
        Command::Queue(a) => act::queue(&ctx, &out, a).await,
        Command::Tail(a) => tail::tail(&ctx, &out, a).await,
        Command::Takeover(a) => {
            let action = crate::core::action::Action::TakeOver {
                reason: a.reason.clone(),
                notes: a.notes.clone(),
            };
            act::act(&ctx, &out, &a.id, action, a.out.json).await
        }
        Command::Pause(a) => {
            act::act(
                &ctx,
                &out,
                &a.id,
                crate::core::action::Action::PauseAi,
                a.out.json,
            )
            .await
        }
        Command::Resume(a) => {
            act::act(
                &ctx,
                &out,
                &a.id,
                crate::core::action::Action::ResumeAi,
                a.out.json,
            )
            .await
        }
        Command::End(a) => {
            act::act(
                &ctx,
                &out,
                &a.id,
                crate::core::action::Action::End,
                a.out.json,
            )
            .await
        }
        Command::Say(a) => {
            let action = crate::core::action::Action::Say {
                text: a.text.join(" "),
            };
            act::act(&ctx, &out, &a.id, action, a.out.json).await
        }
        Command::Instruct(a) => {
            let action = crate::core::action::Action::Instruct {
                text: a.text.join(" "),
            };
            act::act(&ctx, &out, &a.id, action, a.out.json).await
        }
        // Answered before connecting.
        Command::Serve(_)
        | Command::Demo(_)
        | Command::Migrate(_)
        | Command::Completions(_)
        | Command::Man => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> ClientError {
        ClientError::Api {
            status,
            code: code.into(),
            message: "line one\nline two \u{1b}[2J".into(),
            field: None,
        }
    }

    #[test]
    fn gateway_answers_map_to_distinct_exit_codes_and_one_clean_line() {
        let cases = [
            (api(401, "unauthorized"), Exit::Auth),
            (api(403, "forbidden"), Exit::Auth),
            (api(404, "not_found"), Exit::NotFound),
            (api(409, "conflict"), Exit::Conflict),
            (api(422, "unsupported"), Exit::Unsupported),
            (api(422, "invalid"), Exit::Usage),
            (api(429, "rate_limited"), Exit::Failure),
            (api(502, "upstream_failed"), Exit::Failure),
            (
                ClientError::Unreachable {
                    url: "http://127.0.0.1:1".into(),
                    detail: "refused".into(),
                },
                Exit::Unreachable,
            ),
        ];
        for (err, exit) in cases {
            let e = CommandError::from(err);
            assert_eq!(e.exit, exit, "{e}");
            assert!(!e.message.contains('\n') && !e.message.contains('\u{1b}'));
        }
        let closed = CommandError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(closed.message, CLOSED_PIPE);
    }
}
