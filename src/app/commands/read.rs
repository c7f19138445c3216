//! Reading commands: `calls`, `show`, `history`, `analytics`.

use std::io::Write;

use chrono::Utc;
use serde::Serialize;

use super::output::{
    clean, customer, duration, json_line, local_datetime, local_time, or_dash, short_id, state_sgr,
    Cell, Out, Table,
};
use super::{resolve, CmdResult, CommandError, Ctx, Exit};
use crate::app::cli::{CallsArgs, HistoryArgs, ShowArgs};
use crate::client::HistoryQuery;
use crate::core::model::{Call, CallState, Speaker, TranscriptEntry};

fn print(text: &str) -> CmdResult {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn call_table(calls: &[Call], ended: bool) -> Table {
    let now = Utc::now();
    let rows = calls
        .iter()
        .map(|c| {
            let when = if ended {
                local_datetime(c.created_at)
            } else {
                local_time(c.started_at.unwrap_or(c.created_at))
            };
            let last = if ended {
                or_dash(c.outcome.as_deref())
            } else {
                or_dash(c.intent.as_deref())
            };
            vec![
                Cell::from(short_id(&c.id)),
                Cell::from(clean(customer(c))),
                Cell::from(or_dash(c.lead.name.as_deref())),
                Cell::from(clean(&c.provider)),
                Cell {
                    text: c.state.as_str().to_string(),
                    sgr: state_sgr(c.state),
                },
                Cell::from(when),
                Cell::from(duration(c.duration_at(now))),
                Cell::from(last),
            ]
        })
        .collect();
    Table {
        headers: vec![
            "ID",
            "NUMBER",
            "NAME",
            "PROVIDER",
            "STATE",
            if ended { "CREATED" } else { "STARTED" },
            "DURATION",
            if ended { "OUTCOME" } else { "INTENT" },
        ],
        rows,
        flex: 2,
    }
}

pub async fn calls(ctx: &Ctx, out: &Out, args: &CallsArgs) -> CmdResult {
    let state = match args.state.as_deref() {
        None => None,
        Some(s) => Some(parse_state(s)?),
    };
    let mut calls = ctx.client.active_calls().await?;
    calls.retain(|c| {
        state.is_none_or(|s| c.state == s)
            && args.provider.as_ref().is_none_or(|p| {
                c.provider.eq_ignore_ascii_case(p) || c.integration.eq_ignore_ascii_case(p)
            })
    });
    calls.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    if args.out.json {
        return json_line(&calls);
    }
    print(&call_table(&calls, false).render(out))
}

fn parse_state(s: &str) -> Result<CallState, CommandError> {
    serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase())).map_err(|_| {
        CommandError::new(
            Exit::Usage,
            format!(
                "unknown state {:?}: ringing, in_progress, ai_paused, taken_over, ended",
                clean(s)
            ),
        )
    })
}

/// `show --json`: the call and its transcript.
#[derive(Serialize)]
struct Shown<'a> {
    call: &'a Call,
    transcript: &'a [TranscriptEntry],
}

pub async fn show(ctx: &Ctx, out: &Out, args: &ShowArgs) -> CmdResult {
    let call = resolve::call(&ctx.client, &args.id).await?;
    let transcript = ctx.client.transcript(&call.id).await?;
    if args.out.json {
        return json_line(&Shown {
            call: &call,
            transcript: &transcript,
        });
    }
    let mut text = String::new();
    let field = |text: &mut String, name: &str, value: String| {
        text.push_str(&format!("{:<11}{}\n", format!("{name}:"), value));
    };
    field(&mut text, "Call", call.id.clone());
    field(&mut text, "State", out.state(call.state));
    field(
        &mut text,
        "Direction",
        format!(
            "{} {} -> {}",
            match call.direction {
                crate::core::model::Direction::Inbound => "inbound",
                crate::core::model::Direction::Outbound => "outbound",
            },
            clean(&call.from),
            clean(&call.to)
        ),
    );
    field(&mut text, "Name", or_dash(call.lead.name.as_deref()));
    field(&mut text, "Provider", clean(&call.provider));
    field(&mut text, "Campaign", or_dash(call.campaign.as_deref()));
    field(
        &mut text,
        "Started",
        local_datetime(call.started_at.unwrap_or(call.created_at)),
    );
    field(
        &mut text,
        "Duration",
        duration(call.duration_at(Utc::now())),
    );
    field(&mut text, "Intent", or_dash(call.intent.as_deref()));
    field(&mut text, "Outcome", or_dash(call.outcome.as_deref()));
    if let Some(t) = &call.takeover {
        let notes = t
            .notes
            .as_deref()
            .map(|n| format!(" ({})", clean(n)))
            .unwrap_or_default();
        field(
            &mut text,
            "Taken over",
            format!("by {}: {}{notes}", clean(&t.by), clean(&t.reason)),
        );
    }
    for alert in &call.alerts {
        field(
            &mut text,
            "Alert",
            format!("{}: {}", clean(&alert.kind), clean(&alert.message)),
        );
    }
    if let Some(s) = call.summary.as_deref().filter(|s| !s.is_empty()) {
        field(&mut text, "Summary", clean(s));
    }
    text.push('\n');
    for entry in &transcript {
        text.push_str(&entry_line(out, entry));
        text.push('\n');
    }
    print(&text)
}

pub fn speaker(s: Speaker) -> &'static str {
    match s {
        Speaker::Caller => "caller",
        Speaker::Ai => "ai",
        Speaker::Human => "human",
        Speaker::System => "system",
    }
}

/// `12:00:01 caller: text` (partials marked with a trailing ellipsis).
pub fn entry_line(out: &Out, entry: &TranscriptEntry) -> String {
    let who = speaker(entry.speaker);
    let sgr = match entry.speaker {
        Speaker::Caller => "36",
        Speaker::Ai => "32",
        Speaker::Human => "35",
        Speaker::System => "2",
    };
    let partial = if entry.is_final { "" } else { " …" };
    format!(
        "{} {} {}{partial}",
        out.paint(&local_time(entry.at), "2"),
        out.paint(&format!("{who}:"), sgr),
        clean(&entry.text)
    )
}

pub async fn history(ctx: &Ctx, out: &Out, args: &HistoryArgs) -> CmdResult {
    let since = match args.since.as_deref() {
        None => None,
        Some(s) => Some(Utc::now() - parse_age(s)?),
    };
    if !(1..=500).contains(&args.limit) {
        return Err(CommandError::new(
            Exit::Usage,
            "--limit must be from 1 to 500",
        ));
    }
    let query = HistoryQuery {
        status: args.state.clone().or(Some("all".into())),
        q: args.q.clone(),
        limit: Some(args.limit),
        cursor: None,
        filters: Vec::new(),
    };
    let list = ctx.client.calls_since(&query, since).await?;
    if args.out.json {
        return json_line(&list.calls);
    }
    print(&call_table(&list.calls, true).render(out))
}

/// `90s`, `30m`, `2h`, `7d`, `1w`.
pub fn parse_age(s: &str) -> Result<chrono::Duration, CommandError> {
    let s = s.trim();
    let bad = || {
        CommandError::new(
            Exit::Usage,
            format!(
                "--since wants an age such as 90s, 30m, 2h or 7d, not {:?}",
                clean(s)
            ),
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    n.checked_mul(secs)
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(bad)
}

pub async fn analytics(ctx: &Ctx, out: &Out, json: bool) -> CmdResult {
    let a = ctx.client.analytics().await?;
    if json {
        return json_line(&a);
    }
    let pct = |r: f64| format!("{:.1}%", r * 100.0);
    let mut rows: Vec<Vec<Cell>> = vec![
        vec!["total calls".into(), a.total_calls.to_string().into()],
        vec!["inbound".into(), a.inbound_calls.to_string().into()],
        vec!["outbound".into(), a.outbound_calls.to_string().into()],
        vec!["completed".into(), a.completed_calls.to_string().into()],
        vec!["missed".into(), a.missed_calls.to_string().into()],
        vec!["completion rate".into(), pct(a.completion_rate).into()],
        vec!["takeovers".into(), a.takeovers.to_string().into()],
        vec!["AI containment".into(), pct(a.ai_containment_rate).into()],
        vec![
            "avg handle time".into(),
            duration(Some(a.avg_handle_seconds)).into(),
        ],
        vec![
            "minutes".into(),
            format!("{:.1}", a.total_duration_minutes).into(),
        ],
        vec!["cost".into(), format!("{:.2}", a.total_cost).into()],
    ];
    for (intent, n) in &a.intents {
        rows.push(vec![
            format!("intent {}", clean(intent)).into(),
            n.to_string().into(),
        ]);
    }
    for (outcome, n) in &a.outcomes {
        rows.push(vec![
            format!("outcome {}", clean(outcome)).into(),
            n.to_string().into(),
        ]);
    }
    let table = Table {
        headers: vec!["METRIC", "VALUE"],
        rows,
        flex: 0,
    };
    print(&table.render(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_and_nonsense_is_a_usage_error() {
        assert_eq!(parse_age("2h").map(|d| d.num_seconds()).ok(), Some(7200));
        assert_eq!(parse_age("90s").map(|d| d.num_seconds()).ok(), Some(90));
        for bad in ["", "h", "2", "2y", "-1h", "99999999999999999999d"] {
            let err = parse_age(bad).expect_err(bad);
            assert_eq!(err.exit, Exit::Usage);
        }
    }

    #[test]
    fn states_parse() {
        assert_eq!(parse_state("IN_PROGRESS").ok(), Some(CallState::InProgress));
        assert!(parse_state("bogus").is_err());
    }
}
