//! Rendering: a pure function of `&App` (the transcript wrap cache inside is a memo, not
//! state). Every string drawn was cleaned when it entered the App.

mod alerts;
mod analytics;
mod calls;
mod detail;
mod dialog;
mod form;
mod help;
mod history;
mod logs;
mod queue;
mod transcript;
mod wall;

use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::app::{App, Conn, InputKind, Screen, StatusKind};
use super::keys::Action;
use super::layout;
use super::rules;
use super::update::{RESYNCED_SECS, STATUS_SECS};

pub fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    if layout::too_small(area) {
        let msg = format!(
            "Terminal too small: {}×{}. callwatch needs at least {}×{}.",
            area.width,
            area.height,
            layout::MIN_WIDTH,
            layout::MIN_HEIGHT
        );
        let h = 3.min(area.height);
        let r = Rect::new(area.x, area.y + (area.height - h) / 2, area.width, h);
        f.render_widget(
            Paragraph::new(msg)
                .alignment(Alignment::Center)
                .wrap(ratatui::widgets::Wrap { trim: true })
                .style(app.theme.base()),
            r,
        );
        return;
    }
    let m = layout::main(area);
    header(f, app, m.header);
    tabs(f, app, m.tabs);
    match app.screen {
        Screen::Calls => calls::render(f, app, m.body),
        Screen::Queue => queue::render(f, app, m.body),
        Screen::Analytics => analytics::render(f, app, m.body),
        Screen::History => history::render(f, app, m.body),
        Screen::Alerts => alerts::render(f, app, m.body),
        Screen::Audit => logs::audit(f, app, m.body),
        Screen::Webhooks => logs::webhooks(f, app, m.body),
    }
    status(f, app, m.status);
    footer(f, app, m.footer);
    if app.help_open() {
        help::render(f, app, m.body);
    }
    if let Some(d) = app.dialog() {
        dialog::render(f, app, d, area);
    }
    if let Some(form) = app.form() {
        form::render(f, app, form, area);
    }
}

pub(super) fn conn_span(app: &App) -> Span<'static> {
    let t = &app.theme;
    match &app.session.conn {
        Conn::Connecting { attempt: 0 } => Span::styled("◌ connecting…", t.fg(t.warn)),
        Conn::Connecting { attempt } => {
            Span::styled(format!("◌ reconnecting (attempt {attempt})…"), t.fg(t.warn))
        }
        Conn::Connected { resynced_at } => {
            let recent = resynced_at.is_some_and(|at| (app.now - at).num_seconds() < RESYNCED_SECS);
            let text = if recent {
                "● connected · resynced"
            } else {
                "● connected"
            };
            Span::styled(text, t.fg(t.ok).add_modifier(Modifier::BOLD))
        }
        Conn::Reconnecting { at, .. } => {
            let ms = (*at - app.now).num_milliseconds().max(0);
            let secs = (ms + 999) / 1000;
            Span::styled(
                format!("○ disconnected · reconnecting in {secs}s"),
                t.fg(t.error).add_modifier(Modifier::BOLD),
            )
        }
        Conn::AuthFailed(_) => Span::styled(
            "✕ token refused",
            t.fg(t.error).add_modifier(Modifier::BOLD),
        ),
    }
}

fn header(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let sep = Span::styled(" │ ", t.dimmed());
    // The connection and the counts matter most; the gateway address, then the org and the
    // name give way first on narrow terminals.
    let left = |url: bool, org: bool, me: bool| {
        let mut spans = vec![
            Span::styled(" callwatch", t.title_style()),
            sep.clone(),
            conn_span(app),
        ];
        if url {
            spans.push(sep.clone());
            spans.push(Span::styled(app.gateway.clone(), t.base()));
        }
        if let Some(o) = app.session.org.as_ref().filter(|_| org) {
            spans.push(sep.clone());
            spans.push(Span::styled("org ", t.dimmed()));
            spans.push(Span::styled(
                o.clone(),
                t.base().add_modifier(Modifier::BOLD),
            ));
        }
        if let (Some(actor), Some(role), true) = (&app.session.actor, app.session.role, me) {
            spans.push(sep.clone());
            spans.push(Span::styled(actor_label(actor, role.as_str()), t.base()));
        }
        Line::from(spans)
    };
    let c = app.counts();
    let full = Line::from(vec![
        Span::styled(
            format!("{} live", c.live),
            t.base().add_modifier(Modifier::BOLD),
        ),
        Span::styled(": ", t.dimmed()),
        Span::styled(format!("{} AI", c.ai), t.fg(t.state_ai)),
        Span::styled(" · ", t.dimmed()),
        Span::styled(format!("{} paused", c.paused), t.fg(t.state_paused)),
        Span::styled(" · ", t.dimmed()),
        Span::styled(format!("{} human", c.human), t.fg(t.state_human)),
        Span::styled(" │ ", t.dimmed()),
        Span::styled(format!("{} queued ", c.queued), t.base()),
    ]);
    let short = Line::from(vec![
        Span::styled(
            format!("{} live", c.live),
            t.base().add_modifier(Modifier::BOLD),
        ),
        Span::styled(" │ ", t.dimmed()),
        Span::styled(format!("{} queued ", c.queued), t.base()),
    ]);
    let lefts = [
        left(true, true, true),
        left(false, true, true),
        left(false, false, true),
        left(false, false, false),
    ];
    let mut chosen = None;
    'fit: for right in [&full, &short] {
        for l in &lefts {
            if l.width() + right.width() + 2 <= area.width as usize {
                chosen = Some((l, Some(right)));
                break 'fit;
            }
        }
    }
    let (l, right) = chosen.unwrap_or((&lefts[3], None));
    f.render_widget(Paragraph::new(l.clone()), area);
    if let Some(right) = right {
        let w = right.width() as u16;
        f.render_widget(
            Paragraph::new(right.clone()),
            Rect::new(area.x + area.width - w, area.y, w, 1),
        );
    }
}

/// "sam (supervisor)", unless the token's name already says its role (or is the role, as
/// in the demo when the login name is unknown: "supervisor").
fn actor_label(actor: &str, role: &str) -> String {
    if actor.contains(&format!("({role})")) || actor.trim().eq_ignore_ascii_case(role) {
        actor.to_string()
    } else {
        format!("{actor} ({role})")
    }
}

fn tabs(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![Span::raw(" ")];
    for (i, s) in Screen::ALL.iter().enumerate() {
        let label = match s {
            Screen::Queue => format!(" {} {} ({}) ", i + 1, s.title(), app.counts().queued),
            _ => format!(" {} {} ", i + 1, s.title()),
        };
        let style = if *s == app.screen {
            t.selected()
        } else {
            t.dimmed()
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw(" "));
    }
    let tabs = Line::from(spans);
    let used = tabs.width();
    f.render_widget(Paragraph::new(tabs), area);
    if app.screen == Screen::Calls {
        let arrow = if app.live.sort_desc { "↓" } else { "↑" };
        let sort = format!("sort: {} {arrow} ", app.live.sort.title());
        let mut info = sort.clone();
        if !app.live.filter.is_empty() {
            info = format!(
                "filter: \"{}\" ({} shown) · {info}",
                app.live.filter,
                app.live.order.len()
            );
        }
        // Never over the tabs: the filter, then the sort, give way.
        let room = (area.width as usize).saturating_sub(used + 1);
        let info = [info, sort]
            .into_iter()
            .find(|s| unicode_width::UnicodeWidthStr::width(s.as_str()) <= room);
        if let Some(info) = info {
            f.render_widget(
                Paragraph::new(Span::styled(info, t.dimmed())).alignment(Alignment::Right),
                area,
            );
        }
    }
}

fn status(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    if let Some(input) = app.input() {
        let prompt = match input.kind {
            InputKind::Filter => " filter calls: ",
            InputKind::Search => " search transcript: ",
            InputKind::History => " search history: ",
            InputKind::Command => " :",
        };
        let tail = if input.kind == InputKind::Command {
            format!("   {}   tab · enter · esc", input.hint)
        } else {
            "   enter apply · esc cancel".to_string()
        };
        let line = Line::from(vec![
            Span::styled(prompt, t.key_style()),
            Span::styled(input.text.clone(), t.base()),
            Span::styled("▏", t.fg(t.accent)),
            Span::styled(tail, t.dimmed()),
        ]);
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    if let Some(s) = &app.status {
        let fresh = (app.now - s.at).num_seconds() < STATUS_SECS;
        let (icon, style) = match s.kind {
            StatusKind::Pending => ("⋯", t.fg(t.warn)),
            StatusKind::Ok => ("✓", t.fg(t.ok)),
            StatusKind::Error => ("✗", t.fg(t.error).add_modifier(Modifier::BOLD)),
            StatusKind::Info => ("·", t.base()),
        };
        if fresh || matches!(s.kind, StatusKind::Error | StatusKind::Pending) {
            let line = Line::from(vec![Span::styled(format!(" {icon} {}", s.text), style)]);
            f.render_widget(Paragraph::new(line), area);
            return;
        }
    }
    if let Some(w) = app.warnings.first() {
        let more = if app.warnings.len() > 1 {
            format!(" (+{} more in the log)", app.warnings.len() - 1)
        } else {
            String::new()
        };
        let line = Span::styled(format!(" ⚠ config: {w}{more}"), t.fg(t.warn));
        f.render_widget(Paragraph::new(line), area);
    }
}

fn footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let actions: &[Action] =
        if app.dialog().is_some() || app.input().is_some() || app.form().is_some() {
            &[]
        } else if app.help_open() {
            &[Action::Back, Action::Quit]
        } else {
            match app.screen {
                Screen::Calls => &[
                    Action::TakeOver,
                    Action::PauseAi,
                    Action::ResumeAi,
                    Action::Say,
                    Action::Instruct,
                    Action::EndCall,
                    Action::Filter,
                    Action::Search,
                    Action::Help,
                    Action::Quit,
                ],
                Screen::Queue => &[
                    Action::DialNow,
                    Action::CancelQueued,
                    Action::AddToQueue,
                    Action::Up,
                    Action::Down,
                    Action::Help,
                    Action::Quit,
                ],
                Screen::Analytics => &[Action::NextScreen, Action::Help, Action::Quit],
                Screen::History if app.history.detail.is_some() => &[
                    Action::Back,
                    Action::ScrollUp,
                    Action::ScrollDown,
                    Action::Search,
                    Action::Timestamps,
                    Action::Help,
                    Action::Quit,
                ],
                Screen::History => &[
                    Action::Filter,
                    Action::Open,
                    Action::Up,
                    Action::Down,
                    Action::Help,
                    Action::Quit,
                ],
                Screen::Alerts => &[
                    Action::Open,
                    Action::Up,
                    Action::Down,
                    Action::Command,
                    Action::Help,
                    Action::Quit,
                ],
                Screen::Audit | Screen::Webhooks => &[
                    Action::Up,
                    Action::Down,
                    Action::Command,
                    Action::NextScreen,
                    Action::Help,
                    Action::Quit,
                ],
            }
        };
    let mut spans = vec![Span::raw(" ")];
    if app.dialog().is_some_and(|d| d.blocked().is_some()) {
        spans.push(Span::styled("esc", t.key_style()));
        spans.push(Span::styled(" close", t.base()));
    } else if app.dialog().is_some_and(|d| {
        matches!(
            d,
            super::app::Dialog::ConfirmEnd { .. }
                | super::app::Dialog::ConfirmCancel { .. }
                | super::app::Dialog::ConfirmRecent { .. }
        )
    }) {
        // A confirmation has no fields: its own keys, the same the dialog shows.
        spans.push(Span::styled("y/enter", t.key_style()));
        spans.push(Span::styled(" confirm  ", t.base()));
        spans.push(Span::styled("n/esc", t.key_style()));
        spans.push(Span::styled(" cancel", t.base()));
    } else if app.dialog().is_some() {
        spans.push(Span::styled("enter", t.key_style()));
        spans.push(Span::styled(" submit  ", t.base()));
        spans.push(Span::styled("tab", t.key_style()));
        spans.push(Span::styled(" next field  ", t.base()));
        spans.push(Span::styled("esc", t.key_style()));
        spans.push(Span::styled(" cancel", t.base()));
    }
    let selected = app.selected_call().map(|v| &v.call);
    for &a in actions {
        let key = app.keymap.first(a);
        if key.is_empty() {
            continue;
        }
        let usable = match (app.screen, a.scope(), selected) {
            (Screen::Calls, super::keys::Scope::Calls, Some(call))
                if matches!(
                    a,
                    Action::TakeOver
                        | Action::PauseAi
                        | Action::ResumeAi
                        | Action::Say
                        | Action::Instruct
                        | Action::EndCall
                ) =>
            {
                rules::supported(app.session.backend, a).is_ok()
                    && rules::check(a, call, app.session.role).is_ok()
            }
            (Screen::Calls, super::keys::Scope::Calls, None) => {
                !matches!(a.scope(), super::keys::Scope::Calls)
                    || matches!(a, Action::Filter | Action::Sort)
            }
            _ => true,
        };
        let (ks, ls) = if usable {
            (t.key_style(), t.base())
        } else {
            (t.dimmed(), t.dimmed())
        };
        spans.push(Span::styled(key, ks));
        spans.push(Span::styled(format!(" {}  ", a.hint()), ls));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A bordered block with the theme's colours.
pub(super) fn block<'a>(app: &App, title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border_style())
        .title(title)
        .title_style(app.theme.title_style())
}

pub(super) fn centered_message(f: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    let h = lines.len() as u16;
    let y = area.y + area.height.saturating_sub(h) / 2;
    let r = Rect::new(area.x, y, area.width, h.min(area.height));
    f.render_widget(Paragraph::new(lines).alignment(Alignment::Center), r);
}
