//! The `:` command line, k9s-style: `:calls provider=vapi`, `:history maria`, `:alerts`,
//! `:sort attention`, `:export json`, with Tab completion of commands, filter keys and the
//! values on screen.

use super::screens::switch;
use super::{calls, export, history, info, logs, set_status, Effect};
use crate::console::app::{App, Modal, Screen, SortKey, StatusKind};
use crate::console::filter::{self, direction_label, state_label, CALL_KEYS};
use crate::core::model::{CallState, Direction};

/// Command names, with what they do (the hint line shows them).
pub const COMMANDS: &[(&str, &str)] = &[
    ("calls", "live calls [filter]"),
    ("queue", "dialing queue"),
    (
        "analytics",
        "analytics [today|7d|30d|live] [campaign|provider|number]",
    ),
    (
        "history",
        "ended calls [words] [direction= intent= outcome= sentiment= taken_over=]",
    ),
    ("alerts", "alert list"),
    ("audit", "the org's audit log"),
    ("webhooks", "the webhook log (admins)"),
    ("details", "toggle the call detail panel"),
    (
        "sort",
        "sort the calls: attention, duration, state, who, campaign, provider, sentiment",
    ),
    (
        "export",
        "export: txt or json (call), csv or json (history page) [path]",
    ),
    ("help", "keys"),
    ("quit", "leave"),
];

/// Field filters of `:history` (the gateway's `GET /api/calls` parameters).
pub const HISTORY_KEYS: &[&str] = &[
    "direction",
    "intent",
    "outcome",
    "sentiment",
    "taken_over",
    "provider",
    "campaign",
    "from",
    "to",
];

const SORTS: [SortKey; 7] = [
    SortKey::Attention,
    SortKey::Duration,
    SortKey::State,
    SortKey::Who,
    SortKey::Campaign,
    SortKey::Provider,
    SortKey::Sentiment,
];

fn sort_name(k: SortKey) -> &'static str {
    match k {
        SortKey::Attention => "attention",
        _ => k.title(),
    }
}

/// The one command a (possibly shortened) name stands for.
fn command(name: &str) -> Result<&'static str, String> {
    if let Some((c, _)) = COMMANDS.iter().find(|(c, _)| *c == name) {
        return Ok(c);
    }
    let found: Vec<&str> = COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| c.starts_with(name))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("unknown command :{name} (Tab lists them)")),
        many => Err(format!(":{name} could be {}", many.join(", "))),
    }
}

/// Enter on the command line.
pub(super) fn run(app: &mut App, text: &str, fx: &mut Vec<Effect>) {
    let text = text.trim().trim_start_matches(':');
    let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if name.is_empty() {
        return;
    }
    let cmd = match command(name) {
        Ok(c) => c,
        Err(e) => return set_status(app, StatusKind::Error, e),
    };
    match cmd {
        "calls" => {
            if let Err(e) = filter::parse(rest, CALL_KEYS) {
                return set_status(app, StatusKind::Error, e);
            }
            switch(app, Screen::Calls, fx);
            app.live.filter = rest.to_string();
            calls::reorder(app);
        }
        "queue" => switch(app, Screen::Queue, fx),
        "analytics" => logs::analytics(app, rest, fx),
        "audit" => logs::open_audit(app, fx),
        "webhooks" => logs::open_webhooks(app, fx),
        "alerts" => switch(app, Screen::Alerts, fx),
        "history" => {
            // `key=value` words are field filters the gateway applies (and answers 422 for
            // one it does not know: the screen shows that error).
            app.screen = Screen::History;
            app.history.query = rest.to_string();
            app.history.detail = None;
            history::search(app, fx);
        }
        "details" => calls::toggle_detail(app, fx),
        "sort" => match SORTS.iter().find(|k| sort_name(**k).starts_with(rest)) {
            Some(k) if !rest.is_empty() => {
                app.live.sort = *k;
                app.live.sort_desc = *k == SortKey::Duration;
                calls::reorder(app);
                info(app, &format!("sorted by {}", k.title()));
            }
            _ => set_status(
                app,
                StatusKind::Error,
                format!("unknown sort {rest:?} (Tab lists them)"),
            ),
        },
        "export" => export::run(app, rest, fx),
        "help" => app.modal = Some(Modal::Help),
        "quit" => fx.push(Effect::Quit),
        _ => {}
    }
}

/// What the last word of `text` may become.
fn candidates(app: &App, text: &str) -> (String, Vec<String>) {
    let text = text.trim_start_matches(':');
    let (head, last) = match text.rfind(' ') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    let words: Vec<String> = if head.is_empty() {
        COMMANDS.iter().map(|(c, _)| c.to_string()).collect()
    } else {
        let cmd = head.split_whitespace().next().and_then(|n| command(n).ok());
        match cmd {
            Some("calls") => match last.split_once('=') {
                Some((k, _)) => values(app, k)
                    .into_iter()
                    .map(|v| format!("{k}={v}"))
                    .collect(),
                None => CALL_KEYS.iter().map(|k| format!("{k}=")).collect(),
            },
            Some("history") => match last.split_once('=') {
                Some((k, _)) => values(app, k)
                    .into_iter()
                    .map(|v| format!("{k}={v}"))
                    .collect(),
                None => HISTORY_KEYS.iter().map(|k| format!("{k}=")).collect(),
            },
            Some("sort") => SORTS.iter().map(|k| sort_name(*k).to_string()).collect(),
            Some("analytics") => logs::RANGES
                .iter()
                .chain(logs::GROUPS.iter())
                .map(|w| w.to_string())
                .collect(),
            Some("export") => ["txt", "json", "csv"].map(String::from).to_vec(),
            _ => Vec::new(),
        }
    };
    let lower = last.to_ascii_lowercase();
    let found = words
        .into_iter()
        .filter(|w| w.to_ascii_lowercase().starts_with(&lower))
        .collect();
    (head.to_string(), found)
}

/// Values a `key=` can take, from what is on screen.
fn values(app: &App, key: &str) -> Vec<String> {
    let mut out: Vec<String> = match key {
        "state" => [
            CallState::InProgress,
            CallState::AiPaused,
            CallState::TakenOver,
            CallState::Ringing,
            CallState::Queued,
            CallState::Ended,
        ]
        .iter()
        .map(|s| state_label(*s).to_ascii_lowercase())
        .collect(),
        "sentiment" => ["positive", "neutral", "negative", "unknown"]
            .map(String::from)
            .to_vec(),
        "taken_over" => vec!["true".into(), "false".into()],
        "direction" => [Direction::Inbound, Direction::Outbound]
            .map(|d| direction_label(d).to_string())
            .to_vec(),
        _ => app
            .live
            .values()
            .map(|v| &v.call)
            .chain(app.history.results.iter())
            .flat_map(|c| match key {
                "provider" => vec![c.provider.to_ascii_lowercase()],
                "intent" => c.intent.iter().cloned().collect(),
                "outcome" => c.outcome.iter().cloned().collect(),
                "campaign" => c.campaign.iter().cloned().collect(),
                "alert" => c.alerts.iter().map(|a| a.kind.clone()).collect(),
                "assistant" => c.assistant.iter().cloned().collect(),
                _ => Vec::new(),
            })
            .filter(|v| !v.contains(char::is_whitespace))
            .collect(),
    };
    out.sort();
    out.dedup();
    out
}

/// Tab: completes the last word to the longest common prefix of what it may become.
pub(super) fn complete(app: &mut App, text: &str) -> String {
    let (head, found) = candidates(app, text);
    let Some(first) = found.first() else {
        return text.to_string();
    };
    let mut prefix = first.clone();
    for w in &found[1..] {
        while !w
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase())
        {
            prefix.pop();
        }
    }
    let last = text.rsplit(' ').next().unwrap_or("");
    if prefix.len() < last.len() {
        return text.to_string();
    }
    // A whole command or value is followed by a space, ready for the next word.
    let end = if found.len() == 1 && !prefix.ends_with('=') {
        " "
    } else {
        ""
    };
    format!("{head}{prefix}{end}")
}

/// The line beside the input: what Tab offers, or what the command does.
pub(super) fn hint(app: &App, text: &str) -> String {
    let (_, found) = candidates(app, text);
    let name = text.trim_start_matches(':').split(' ').next().unwrap_or("");
    if text.contains(' ') && found.is_empty() {
        if let Ok(c) = command(name) {
            let what = COMMANDS
                .iter()
                .find(|(n, _)| *n == c)
                .map(|(_, w)| *w)
                .unwrap_or("");
            return format!("{c}: {what}");
        }
    }
    let shown: Vec<&str> = found.iter().take(8).map(String::as_str).collect();
    let more = found.len().saturating_sub(shown.len());
    let mut s = shown.join(" ");
    if more > 0 {
        s.push_str(&format!(" +{more}"));
    }
    s
}
