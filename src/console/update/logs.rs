//! The log screens (`:audit`, `:webhooks`) and the Analytics range (`:analytics 7d
//! campaign`): each asks the gateway when opened and shows the answer.

use super::{set_status, Effect, Reply, Request};
use crate::console::app::{App, Screen, StatusKind};
use crate::console::clean;
use crate::core::action::Permission;

/// `:audit`: the org's audit log, fetched afresh.
pub(super) fn open_audit(app: &mut App, fx: &mut Vec<Effect>) {
    app.screen = Screen::Audit;
    let id = app.requests.id();
    let list = &mut app.logs.audit;
    list.loading = true;
    list.error = None;
    list.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::AuditLog,
    });
}

/// `:webhooks`: the webhook log; refused before any request for roles below admin, with
/// the gateway's own sentence.
pub(super) fn open_webhooks(app: &mut App, fx: &mut Vec<Effect>) {
    let allowed = match app.session.role {
        Some(role) => role.require(Permission::Admin, "read the webhook log"),
        None => Err("not connected to the gateway yet".to_string()),
    };
    if let Err(reason) = allowed {
        return set_status(
            app,
            StatusKind::Error,
            format!("cannot show the webhook log: {reason}"),
        );
    }
    app.screen = Screen::Webhooks;
    let id = app.requests.id();
    let list = &mut app.logs.webhooks;
    list.loading = true;
    list.error = None;
    list.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::WebhookLog,
    });
}

/// Ranges and groupings `:analytics` takes.
pub const RANGES: [&str; 4] = ["live", "today", "7d", "30d"];
pub const GROUPS: [&str; 3] = ["campaign", "provider", "number"];

/// `:analytics [today|7d|30d|live] [campaign|provider|number]`: the Analytics screen for
/// that range and grouping (`live`, or no words: the stream's last 24 h).
pub(super) fn analytics(app: &mut App, words: &str, fx: &mut Vec<Effect>) {
    let mut range = None;
    let mut group_by = None;
    for w in words.split_whitespace() {
        let w = w.trim_start_matches("by=").trim_start_matches("group_by=");
        if let Some(r) = RANGES.iter().find(|r| **r == w) {
            range = Some(*r);
        } else if let Some(g) = GROUPS.iter().find(|g| **g == w) {
            group_by = Some(*g);
        } else {
            return set_status(
                app,
                StatusKind::Error,
                format!(
                    "analytics takes a range ({}) and a grouping ({}), not {w:?}",
                    RANGES.join(", "),
                    GROUPS.join(", ")
                ),
            );
        }
    }
    app.screen = Screen::Analytics;
    let view = &mut app.analytics_view;
    view.range = range.filter(|r| *r != "live").map(String::from);
    view.group_by = group_by.map(String::from);
    view.data = None;
    view.error = None;
    if view.is_live() {
        view.loading = false;
        view.request = None;
        return;
    }
    let id = app.requests.id();
    let view = &mut app.analytics_view;
    view.loading = true;
    view.request = Some(id);
    fx.push(Effect::Request {
        id,
        request: Request::Analytics {
            range: view.range.clone(),
            group_by: view.group_by.clone(),
        },
    });
}

/// The answer to a log or analytics request, if it is one; `false` leaves it to others.
pub(super) fn answer(app: &mut App, id: u64, result: &Result<Reply, String>) -> bool {
    if app.logs.audit.request == Some(id) {
        let list = &mut app.logs.audit;
        list.request = None;
        list.loading = false;
        match result {
            Ok(Reply::AuditLog(entries)) => {
                list.entries = entries.clone();
                list.entries.iter_mut().for_each(clean::audit);
                list.selected = 0;
            }
            Ok(_) => {}
            Err(e) => list.error = Some(e.clone()),
        }
        return true;
    }
    if app.logs.webhooks.request == Some(id) {
        let list = &mut app.logs.webhooks;
        list.request = None;
        list.loading = false;
        match result {
            Ok(Reply::WebhookLog(entries)) => {
                list.entries = entries.clone();
                for e in &mut list.entries {
                    e.integration = clean::text(&e.integration);
                    e.provider = clean::text(&e.provider);
                    e.event = e.event.as_deref().map(clean::text);
                    e.payload = clean::text(&e.payload);
                    e.error = e.error.as_deref().map(clean::text);
                }
                list.selected = 0;
            }
            Ok(_) => {}
            Err(e) => list.error = Some(e.clone()),
        }
        return true;
    }
    if app.analytics_view.request == Some(id) {
        let view = &mut app.analytics_view;
        view.request = None;
        view.loading = false;
        match result {
            Ok(Reply::Analytics(a)) => {
                let mut a = (**a).clone();
                clean::analytics(&mut a);
                view.data = Some(a);
            }
            Ok(_) => {}
            Err(e) => view.error = Some(e.clone()),
        }
        return true;
    }
    false
}
