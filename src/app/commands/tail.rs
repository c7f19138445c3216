//! `tail ID [-f]` and `tail --all [-f]`: transcripts as lines. Following rides the client's
//! resumable stream; every final entry is printed exactly once, keyed by its transcript
//! position, whatever reconnects, replays or snapshots (after a gateway restart) bring.
//! Partials are revised in place on a terminal and never printed when piped.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use super::output::{clean, customer, fit, json_line, short_id, Out};
use super::read::{entry_line, speaker};
use super::{resolve, CmdResult, CommandError, Ctx, Exit};
use crate::app::cli::TailArgs;
use crate::client::{spawn_stream, StreamConfig, StreamMsg};
use crate::core::model::{Call, TranscriptEntry};
use crate::core::protocol::StreamEvent;

/// One `--json` line: a final transcript entry and the call it belongs to.
#[derive(Serialize)]
struct JsonLine<'a> {
    call_id: &'a str,
    number: &'a str,
    position: u32,
    speaker: &'static str,
    text: &'a str,
    at: DateTime<Utc>,
}

/// What has been printed, per call, and the partial line on screen.
struct Printer<'a> {
    out: &'a Out,
    json: bool,
    /// Prefix each line with its call (`--all`).
    prefixed: bool,
    /// Show partials (a terminal, human output, one call).
    partials: bool,
    printed: HashMap<String, HashSet<u32>>,
    /// Calls' numbers, for prefixes and JSON.
    numbers: HashMap<String, String>,
    /// Partials not yet final, by call and position; the newest is on screen.
    pending: BTreeMap<(String, u32), TranscriptEntry>,
    partial_on_screen: bool,
}

impl<'a> Printer<'a> {
    fn new(out: &'a Out, json: bool, prefixed: bool) -> Self {
        Printer {
            out,
            json,
            prefixed,
            partials: out.tty && !json && !prefixed,
            printed: HashMap::new(),
            numbers: HashMap::new(),
            pending: BTreeMap::new(),
            partial_on_screen: false,
        }
    }

    fn know(&mut self, call: &Call) {
        self.numbers
            .insert(call.id.clone(), customer(call).to_string());
    }

    fn entry(&mut self, entry: &TranscriptEntry) -> CmdResult {
        let key = (entry.call_id.clone(), entry.position);
        let done = self
            .printed
            .get(&entry.call_id)
            .is_some_and(|p| p.contains(&entry.position));
        if done {
            return Ok(()); // a revision of a printed final, or a replay
        }
        if !entry.is_final {
            if self.partials {
                self.pending.insert(key, entry.clone());
                self.draw_partial()?;
            }
            return Ok(());
        }
        self.pending.remove(&key);
        self.clear_partial()?;
        self.print_final(entry)?;
        self.printed
            .entry(entry.call_id.clone())
            .or_default()
            .insert(entry.position);
        self.draw_partial()
    }

    fn print_final(&self, entry: &TranscriptEntry) -> CmdResult {
        let number = self.numbers.get(&entry.call_id).map_or("", String::as_str);
        if self.json {
            return json_line(&JsonLine {
                call_id: &entry.call_id,
                number,
                position: entry.position,
                speaker: speaker(entry.speaker),
                text: &entry.text,
                at: entry.at,
            });
        }
        let line = entry_line(self.out, entry);
        let line = if self.prefixed {
            format!(
                "{} {} {line}",
                self.out.paint(&short_id(&entry.call_id), "1"),
                clean(number)
            )
        } else {
            line
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
        Ok(())
    }

    /// The newest pending partial on one line, cut to the terminal so `\r` can rewrite it.
    fn draw_partial(&mut self) -> CmdResult {
        let Some(entry) = self.pending.values().max_by_key(|e| e.position) else {
            return Ok(());
        };
        let line = entry_line(&plain(self.out), entry);
        let line = fit(&line, self.out.width.unwrap_or(80).saturating_sub(1));
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "\r\x1b[2K{}", self.out.paint(&line, "2"))?;
        stdout.flush()?;
        self.partial_on_screen = true;
        Ok(())
    }

    fn clear_partial(&mut self) -> CmdResult {
        if self.partial_on_screen {
            let mut stdout = std::io::stdout().lock();
            write!(stdout, "\r\x1b[2K")?;
            stdout.flush()?;
            self.partial_on_screen = false;
        }
        Ok(())
    }

    /// Prints what a call's full transcript holds that was not printed yet.
    fn catch_up(&mut self, transcript: &[TranscriptEntry]) -> CmdResult {
        let mut entries: Vec<&TranscriptEntry> = transcript.iter().collect();
        entries.sort_by_key(|e| e.position);
        for e in entries {
            self.entry(e)?;
        }
        Ok(())
    }

    /// The call is over: its partials will never become final here.
    fn forget_partials(&mut self, call_id: &str) -> CmdResult {
        self.pending.retain(|(c, _), _| c != call_id);
        self.clear_partial()?;
        self.draw_partial()
    }
}

/// `out` without colour: a partial is painted dim as a whole.
fn plain(out: &Out) -> Out {
    Out {
        tty: out.tty,
        color: false,
        width: out.width,
    }
}

pub async fn tail(ctx: &Ctx, out: &Out, args: &TailArgs) -> CmdResult {
    if args.all {
        return tail_all(ctx, out, args).await;
    }
    let Some(id) = args.id.as_deref() else {
        return Err(CommandError::new(
            Exit::Usage,
            "tail needs a call id or --all",
        ));
    };
    let call = resolve::call(&ctx.client, id).await?;
    let mut printer = Printer::new(out, args.json, false);
    printer.know(&call);
    if !args.follow || !call.state.is_active() {
        let transcript = ctx.client.transcript(&call.id).await?;
        // A one-off look on a terminal shows partials too, marked; a pipe gets finals.
        for e in sorted(&transcript) {
            if e.is_final {
                printer.print_final(e)?;
            } else if out.tty && !args.json {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{}", entry_line(out, e))?;
            }
        }
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel(1024);
    let _stream = spawn_stream(StreamConfig::new(&ctx.url, &ctx.token), tx);
    let mut notes = Notes::default();
    loop {
        let Some(msg) = rx.recv().await else {
            return Err(CommandError::new(Exit::Failure, "the event stream stopped"));
        };
        let ended = match msg {
            StreamMsg::Snapshot(snapshot) => {
                match snapshot.calls.iter().find(|c| c.call.id == call.id) {
                    Some(c) => {
                        printer.catch_up(&c.transcript)?;
                        !c.call.state.is_active()
                    }
                    // Not among the active calls: it ended while we were away.
                    None => true,
                }
            }
            StreamMsg::Event { event, .. } => match *event {
                StreamEvent::TranscriptAppended { entry }
                | StreamEvent::TranscriptRevised { entry }
                    if entry.call_id == call.id =>
                {
                    printer.entry(&entry)?;
                    false
                }
                StreamEvent::CallEnded { call: c } => c.id == call.id,
                StreamEvent::CallUpdated { call: c } => c.id == call.id && !c.state.is_active(),
                _ => false,
            },
            other => {
                notes.show(&mut printer, other)?;
                false
            }
        };
        if ended {
            // Events arrive in commit order, so this is only a safety net for a restart
            // that happened around the end.
            let transcript = ctx.client.transcript(&call.id).await?;
            printer.catch_up(&transcript)?;
            return printer.forget_partials(&call.id);
        }
    }
}

fn sorted(transcript: &[TranscriptEntry]) -> Vec<&TranscriptEntry> {
    let mut v: Vec<&TranscriptEntry> = transcript.iter().collect();
    v.sort_by_key(|e| e.position);
    v
}

async fn tail_all(ctx: &Ctx, out: &Out, args: &TailArgs) -> CmdResult {
    let mut printer = Printer::new(out, args.json, true);
    if !args.follow {
        let mut calls = ctx.client.active_calls().await?;
        calls.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        for call in &calls {
            printer.know(call);
            let transcript = ctx.client.transcript(&call.id).await?;
            printer.catch_up(&transcript)?;
        }
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel(1024);
    let _stream = spawn_stream(StreamConfig::new(&ctx.url, &ctx.token), tx);
    let mut notes = Notes::default();
    // Calls being followed: one that vanishes from a later snapshot ended while we were
    // away, and its transcript is caught up over REST.
    let mut live: HashSet<String> = HashSet::new();
    loop {
        let Some(msg) = rx.recv().await else {
            return Err(CommandError::new(Exit::Failure, "the event stream stopped"));
        };
        match msg {
            StreamMsg::Snapshot(snapshot) => {
                let mut calls: Vec<_> = snapshot.calls.iter().collect();
                calls.sort_by(|a, b| {
                    (a.call.created_at, &a.call.id).cmp(&(b.call.created_at, &b.call.id))
                });
                let now: HashSet<String> = calls.iter().map(|c| c.call.id.clone()).collect();
                let mut gone: Vec<String> = live.difference(&now).cloned().collect();
                gone.sort();
                for id in gone {
                    let transcript = ctx.client.transcript(&id).await?;
                    printer.catch_up(&transcript)?;
                }
                for c in calls {
                    printer.know(&c.call);
                    printer.catch_up(&c.transcript)?;
                }
                live = now;
            }
            StreamMsg::Event { event, .. } => match *event {
                StreamEvent::TranscriptAppended { entry }
                | StreamEvent::TranscriptRevised { entry } => printer.entry(&entry)?,
                StreamEvent::CallUpdated { call } => {
                    printer.know(&call);
                    if call.state.is_active() {
                        live.insert(call.id);
                    } else {
                        live.remove(&call.id);
                    }
                }
                StreamEvent::CallEnded { call } => {
                    live.remove(&call.id);
                }
                _ => {}
            },
            other => notes.show(&mut printer, other)?,
        }
    }
}

/// Connection news: on stderr, once per outage, and only for a person watching.
#[derive(Default)]
struct Notes {
    down: bool,
}

impl Notes {
    fn show(&mut self, printer: &mut Printer<'_>, msg: StreamMsg) -> CmdResult {
        let person = std::io::stderr().is_terminal();
        match msg {
            StreamMsg::AuthFailed { message } => {
                Err(CommandError::new(Exit::Auth, clean(&message)))
            }
            StreamMsg::Disconnected { error, .. } => {
                if person && !self.down {
                    printer.clear_partial()?;
                    eprintln!("callwatch: {}; reconnecting", clean(&error));
                    printer.draw_partial()?;
                }
                self.down = true;
                Ok(())
            }
            StreamMsg::Connected { .. } => {
                if person && self.down {
                    printer.clear_partial()?;
                    eprintln!("callwatch: reconnected");
                    printer.draw_partial()?;
                }
                self.down = false;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
