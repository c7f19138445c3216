//! `:export`: the selected call's transcript (txt, json) or the History page (csv, json),
//! written to a file by the runtime.

use std::path::PathBuf;

use super::{set_status, start_effect, Effect};
use crate::console::app::{App, Screen, StatusKind};
use crate::console::transcript::{clock, speaker_label};
use crate::core::model::{Call, TranscriptEntry};

pub(super) fn run(app: &mut App, args: &str, fx: &mut Vec<Effect>) {
    let mut words = args.split_whitespace();
    let format = words.next().unwrap_or("txt").to_ascii_lowercase();
    let path = words.next().map(PathBuf::from);
    let made = match (app.screen, format.as_str()) {
        (Screen::History, "csv" | "json") if app.history.detail.is_none() => {
            history_page(app, &format)
        }
        (_, "txt" | "json") => call_transcript(app, &format),
        (_, "csv") => Err("csv exports a History page; a call exports as txt or json".into()),
        _ => Err(format!(
            "unknown export format {format:?}: txt, json or csv"
        )),
    };
    match made {
        Ok((name, contents)) => {
            let path = path.unwrap_or_else(|| PathBuf::from(name));
            let doing = format!("exporting {}", path.display());
            start_effect(app, doing, |id| Effect::Export { id, path, contents }, fx);
        }
        Err(e) => set_status(app, StatusKind::Error, e),
    }
}

/// The call on screen: the History call that is open, else the selected live call.
fn current(app: &App) -> Option<(&Call, &[TranscriptEntry])> {
    match app.screen {
        Screen::History => app
            .history
            .detail
            .as_ref()
            .map(|d| (&d.call, d.transcript.entries.as_slice())),
        _ => app
            .live
            .selected_call()
            .map(|v| (&v.call, v.transcript.entries.as_slice())),
    }
}

fn call_transcript(app: &App, format: &str) -> Result<(String, String), String> {
    let (call, entries) = current(app).ok_or("no call selected to export")?;
    let name = format!("callwatch-{}.{format}", safe(&call.id));
    let contents = if format == "json" {
        let body = serde_json::json!({ "call": call, "transcript": entries });
        serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?
    } else {
        let mut out = format!(
            "{} · {} · {}\n\n",
            app.who(call),
            call.provider,
            call.state.as_str()
        );
        for e in entries {
            out.push_str(&format!(
                "{} {:<8} {}\n",
                clock(e.at),
                speaker_label(e.speaker),
                e.text
            ));
        }
        out
    };
    Ok((name, contents))
}

fn history_page(app: &App, format: &str) -> Result<(String, String), String> {
    let calls = &app.history.results;
    if calls.is_empty() {
        return Err("the History page is empty".into());
    }
    let name = format!("callwatch-history.{format}");
    if format == "json" {
        let s = serde_json::to_string_pretty(calls).map_err(|e| e.to_string())?;
        return Ok((name, s));
    }
    let mut out = String::from(
        "id,started_at,direction,from,to,name,campaign,provider,intent,outcome,sentiment,duration_secs,cost,taken_over_by\n",
    );
    for c in calls {
        let row = [
            c.id.clone(),
            c.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            crate::console::filter::direction_label(c.direction).into(),
            c.from.clone(),
            c.to.clone(),
            c.lead.name.clone().unwrap_or_default(),
            c.campaign.clone().unwrap_or_default(),
            c.provider.clone(),
            c.intent.clone().unwrap_or_default(),
            c.outcome.clone().unwrap_or_default(),
            crate::console::filter::sentiment_labels(c.sentiment)[1].into(),
            c.duration_secs
                .map(|d| format!("{d:.0}"))
                .unwrap_or_default(),
            c.cost.map(|d| format!("{d:.4}")).unwrap_or_default(),
            c.takeover
                .as_ref()
                .map(|t| t.by.clone())
                .unwrap_or_default(),
        ];
        let cells: Vec<String> = row.iter().map(|s| csv_cell(s)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    Ok((name, out))
}

/// Quotes a CSV cell when needed; a leading =, +, - or @ is defused so a spreadsheet does
/// not run a caller's name as a formula.
fn csv_cell(s: &str) -> String {
    let risky = match s.chars().next() {
        Some('=' | '@' | '-') => true,
        // "+14155550100" is a phone number, "+SUM(..)" a formula.
        Some('+') => !s[1..].chars().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    let s = if risky {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A file name part from an id: letters, digits, '-' and '_' only.
fn safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(
            csv_cell("+14155550100"),
            "+14155550100",
            "phone numbers stay"
        );
        assert_eq!(safe("a/../b"), "a____b");
    }
}
