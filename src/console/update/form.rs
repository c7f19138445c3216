//! The add-to-queue form (`a` on Queue): number, name, campaign and when, sent to
//! `POST /api/calls/initiate`. It stays open until the gateway answers: a refusal (a number
//! on the do-not-call list, a bad number or time) is shown in the form, in its words.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{info, queue, set_status, Effect, Reply, Request};
use crate::console::app::{App, Modal, QueueForm, Screen, StatusKind, FORM_FIELDS};
use crate::console::clean;
use crate::console::keys::Action;
use crate::console::rules;
use crate::core::protocol::InitiateRequest;

/// Longest value a field takes, in characters.
const MAX_CHARS: usize = 120;

pub(super) fn open(app: &mut App) {
    if app.screen != Screen::Queue {
        return info(app, "adding a call works on the Queue screen");
    }
    if let Err(reason) = rules::check_role(Action::AddToQueue, app.session.role) {
        return set_status(
            app,
            StatusKind::Error,
            format!("cannot add to the queue: {reason}"),
        );
    }
    app.modal = Some(Modal::Form(QueueForm::default()));
}

pub(super) fn key(app: &mut App, ev: KeyEvent, fx: &mut Vec<Effect>) {
    let now = app.now;
    let Some(Modal::Form(form)) = app.modal.as_mut() else {
        return;
    };
    let n = FORM_FIELDS.len();
    match ev.code {
        KeyCode::Esc => app.modal = None,
        // While the request is out the form only waits (Esc still closes it).
        _ if form.request.is_some() => {}
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % n,
        KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + n - 1) % n,
        KeyCode::Backspace => {
            form.values[form.focus].pop();
        }
        KeyCode::Char('u') if ev.modifiers.contains(KeyModifiers::CONTROL) => {
            form.values[form.focus].clear()
        }
        KeyCode::Enter => match request(form, now) {
            Ok(req) => {
                let id = app.requests.id();
                if let Some(Modal::Form(form)) = app.modal.as_mut() {
                    form.request = Some(id);
                    form.error = None;
                }
                fx.push(Effect::Request {
                    id,
                    request: Request::AddToQueue(Box::new(req)),
                });
            }
            Err(e) => form.error = Some(e),
        },
        KeyCode::Char(c)
            if !ev
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            type_text(form, &c.to_string());
        }
        _ => {}
    }
}

/// Pasted text goes into the focused field.
pub(super) fn paste(form: &mut QueueForm, text: &str) {
    if form.request.is_none() {
        type_text(form, text);
    }
}

fn type_text(form: &mut QueueForm, text: &str) {
    let field = &mut form.values[form.focus];
    for c in clean::text(text).chars().filter(|c| !c.is_control()) {
        if field.chars().count() >= MAX_CHARS {
            break;
        }
        field.push(c);
    }
}

/// The request the form asks for, or what is wrong with it.
fn request(form: &QueueForm, now: DateTime<Utc>) -> Result<InitiateRequest, String> {
    let [number, name, campaign, when] = form.values.clone().map(|v| v.trim().to_string());
    if number.is_empty() {
        return Err("the number is required".into());
    }
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(InitiateRequest {
        lead_id: None,
        lead_name: some(name),
        phone_number: number,
        campaign_id: some(campaign),
        script: None,
        agent_settings: serde_json::Value::Null,
        scheduled_at: parse_when(&when, now)?,
        time_zone: None,
    })
}

/// "" or "now": as soon as allowed; "+10m" / "+2h" / "+1d": from now; "14:30": the next
/// 14:30 UTC; or an RFC 3339 time.
pub fn parse_when(text: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("now") {
        return Ok(None);
    }
    let bad = || {
        format!(
            "when {text:?}: leave empty for now, or +10m, +2h, +1d, 14:30 (UTC) or 2026-11-21T09:00:00Z"
        )
    };
    if let Some(rest) = text.strip_prefix('+') {
        let (n, unit) = rest.split_at(rest.len().saturating_sub(1));
        let n: i64 = n.parse().map_err(|_| bad())?;
        let d = match unit {
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(bad()),
        };
        if n <= 0 || n > 100_000 {
            return Err(bad());
        }
        return Ok(Some(now + d));
    }
    if let Ok(t) = NaiveTime::parse_from_str(text, "%H:%M") {
        let today = now.date_naive().and_time(t).and_utc();
        let at = if today > now {
            today
        } else {
            today + Duration::days(1)
        };
        return Ok(Some(at));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| bad())
}

/// The gateway's answer to the form's request, if it is one.
pub(super) fn answer(app: &mut App, id: u64, result: &Result<Reply, String>) -> bool {
    let Some(Modal::Form(form)) = app.modal.as_mut() else {
        return false;
    };
    if form.request != Some(id) {
        return false;
    }
    form.request = None;
    match result {
        Ok(Reply::QueueItem(Some(item))) => {
            let mut item = (**item).clone();
            clean::queue_item(&mut item);
            let who = item
                .lead
                .name
                .clone()
                .unwrap_or_else(|| app.number(&item.phone_number));
            app.modal = None;
            queue::upsert(app, item);
            set_status(app, StatusKind::Ok, format!("added {who} to the queue"));
        }
        Ok(_) => {
            app.modal = None;
            set_status(app, StatusKind::Ok, "added to the queue".into());
        }
        // The refusal stays in the form, in the gateway's words ("... is on the
        // do-not-call list"), with what was typed, until Esc or a corrected Enter.
        Err(e) => form.error = Some(e.clone()),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_takes_now_offsets_times_and_rfc3339() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(parse_when("", now), Ok(None));
        assert_eq!(parse_when("now", now), Ok(None));
        assert_eq!(
            parse_when("+10m", now),
            Ok(Some(now + Duration::minutes(10)))
        );
        assert_eq!(parse_when("+2h", now), Ok(Some(now + Duration::hours(2))));
        assert_eq!(
            parse_when("09:30", now).map(|t| t.map(|t| t.to_rfc3339())),
            Ok(Some("2026-11-22T09:30:00+00:00".into()))
        );
        assert_eq!(
            parse_when("14:30", now).map(|t| t.map(|t| t.to_rfc3339())),
            Ok(Some("2026-11-21T14:30:00+00:00".into()))
        );
        for bad in ["soon", "+", "+5x", "+-3m", "25:00"] {
            assert!(parse_when(bad, now).is_err(), "{bad}");
        }
    }
}
