//! Calls screen: the live table and the selected call's transcript.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::super::app::{customer_number, format_duration, App, Conn};
use super::super::layout;
use super::super::theme::{state_cell, Theme};
use crate::core::model::{Call, CallState, Sentiment};

fn sentiment_cell(t: &Theme, s: Sentiment) -> Span<'static> {
    match s {
        Sentiment::Positive => Span::styled("pos", t.fg(t.positive)),
        Sentiment::Neutral => Span::styled("neu", t.base()),
        Sentiment::Negative => Span::styled("NEG", t.fg(t.negative).add_modifier(Modifier::BOLD)),
        Sentiment::Unknown => Span::styled("–", t.dimmed()),
    }
}

/// One alert: its kind and message; several: how many and their kinds.
fn alerts_text(call: &Call) -> String {
    // A compliance alert says what is missing: its message, not its kind.
    let compliance = call
        .alerts
        .iter()
        .find(|a| a.kind.starts_with(crate::core::compliance::ALERT_PREFIX));
    if let Some(a) = compliance {
        return match call.alerts.len() {
            1 => format!("⚠ {}", a.message),
            n => format!("⚠ {n}: {}", a.message),
        };
    }
    match call.alerts.as_slice() {
        [] => String::new(),
        [a] => format!("⚠ {}: {}", a.kind, a.message),
        many => {
            let mut kinds: Vec<&str> = many.iter().map(|a| a.kind.as_str()).collect();
            kinds.dedup();
            format!("⚠ {}: {}", many.len(), kinds.join(", "))
        }
    }
}

/// Cuts `s` to `width` columns with a trailing "…" (tables would cut it silently).
pub fn trunc(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    State,
    Who,
    Number,
    Campaign,
    Provider,
    Intent,
    Sentiment,
    Duration,
    Alerts,
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::State => "STATE",
            Col::Who => "WHO",
            Col::Number => "NUMBER",
            Col::Campaign => "CAMPAIGN",
            Col::Provider => "PROVIDER",
            Col::Intent => "INTENT",
            Col::Sentiment => "SENT",
            Col::Duration => "TIME",
            Col::Alerts => "ALERTS",
        }
    }

    /// (narrowest useful, widest worth giving) in columns.
    fn bounds(self) -> (usize, usize) {
        match self {
            Col::State => (8, 8),
            Col::Who => (8, 28),
            Col::Number => (13, 16),
            Col::Campaign => (6, 20),
            Col::Provider => (6, 12),
            Col::Intent => (6, 22),
            Col::Sentiment => (4, 4),
            Col::Duration => (5, 7),
            // Its message gets what is left once every other column has its share.
            Col::Alerts => (8, 24),
        }
    }
}

/// Columns by priority: the informative ones survive narrow terminals.
const PRIORITY: [Col; 9] = [
    Col::State,
    Col::Who,
    Col::Duration,
    Col::Alerts,
    Col::Sentiment,
    Col::Intent,
    Col::Number,
    Col::Campaign,
    Col::Provider,
];

/// Display order, left to right.
const ORDER: [Col; 9] = [
    Col::State,
    Col::Who,
    Col::Number,
    Col::Campaign,
    Col::Provider,
    Col::Intent,
    Col::Sentiment,
    Col::Duration,
    Col::Alerts,
];

/// The plain text of a cell (measured for widths, then drawn).
fn cell_text(app: &App, col: Col, c: &Call, number_shown: bool) -> String {
    match col {
        Col::State => state_cell(&app.theme, c.state).content.into_owned(),
        Col::Who if c.state == CallState::Ended => {
            format!(
                "{} · {}",
                app.who(c),
                c.outcome.as_deref().unwrap_or("ended")
            )
        }
        Col::Who => match c.lead.name.as_deref().filter(|n| !n.trim().is_empty()) {
            Some(n) => n.to_string(),
            // The number has its own column: an unnamed caller is not shown twice.
            None if number_shown => "unknown".into(),
            None => app.who(c),
        },
        Col::Number => app.number(customer_number(c)),
        Col::Campaign => c.campaign.clone().unwrap_or_default(),
        Col::Provider => c.provider.clone(),
        Col::Intent => c.intent.clone().unwrap_or_default(),
        Col::Sentiment => sentiment_cell(&app.theme, c.sentiment).content.into_owned(),
        Col::Duration => c
            .duration_at(app.now)
            .map(format_duration)
            .unwrap_or_default(),
        Col::Alerts => alerts_text(c),
    }
}

/// Which columns fit in `width` and how wide each is, from the rows on screen: by
/// priority, each column at the width its content needs; when that does not fit, the
/// informative ones squeeze to what is left and NUMBER, CAMPAIGN and PROVIDER are skipped.
/// What is left goes to ALERTS, whose messages are the longest text, or else to WHO.
fn layout_columns(app: &App, calls: &[&Call], width: usize) -> Vec<(Col, usize)> {
    use unicode_width::UnicodeWidthStr;
    // WHO shows the number when NUMBER is not shown: measured as the wider of the two.
    let number_shown = false;
    let mut used = 0;
    let mut widths: Vec<(Col, usize)> = Vec::new();
    for col in PRIORITY {
        let (min, max) = col.bounds();
        let content = calls
            .iter()
            .map(|c| cell_text(app, col, c, number_shown).width())
            .chain(std::iter::once(col.title().width()))
            .max()
            .unwrap_or(0)
            .clamp(min, max);
        let room = width.saturating_sub(used + 1);
        let w = if content <= room {
            content
        } else if !matches!(col, Col::Number | Col::Campaign | Col::Provider) && room >= min {
            room
        } else {
            continue;
        };
        used += w + 1;
        widths.push((col, w));
    }
    let spare = width.saturating_sub(used);
    let grow = if widths.iter().any(|(c, _)| *c == Col::Alerts) {
        Col::Alerts
    } else {
        Col::Who
    };
    if let Some((_, w)) = widths.iter_mut().find(|(c, _)| *c == grow) {
        *w += spare;
    }
    ORDER
        .iter()
        .filter_map(|c| widths.iter().find(|(k, _)| k == c).copied())
        .collect()
}

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    if app.live().wall_size > 0 {
        return super::wall::render(f, app, body);
    }
    let areas = layout::calls(body);
    table(f, app, areas.table);
    match app.selected_call().filter(|_| app.live().detail_open()) {
        Some(v) => {
            let (tr, detail) = layout::split_detail(areas.transcript);
            transcript(f, app, tr);
            super::detail::render(f, app, detail, &v.call);
        }
        None => transcript(f, app, areas.transcript),
    }
}

fn table(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let live = app.live();
    let ended = live
        .order
        .iter()
        .filter(|id| live.get(id).is_some_and(|v| !v.call.state.is_active()))
        .count();
    let title = if ended > 0 {
        format!(
            " Live calls ({}) · {ended} ended ",
            live.order.len() - ended
        )
    } else {
        format!(" Live calls ({}) ", live.order.len())
    };
    let block = super::block(app, title);
    let inner = layout::inner(area);
    f.render_widget(block, area);

    if live.order.is_empty() {
        let lines = match &app.session.conn {
            Conn::Reconnecting { error, .. } => vec![
                Line::from(Span::styled(
                    format!("Cannot reach the gateway at {}", app.gateway),
                    t.fg(t.error).add_modifier(Modifier::BOLD),
                )),
                Line::from(Span::styled(error.clone(), t.base())),
                Line::from(super::conn_span(app)),
            ],
            Conn::AuthFailed(msg) => vec![
                Line::from(Span::styled(
                    "The gateway refused the token",
                    t.fg(t.error).add_modifier(Modifier::BOLD),
                )),
                Line::from(Span::styled(msg.clone(), t.base())),
                Line::from(Span::styled(
                    "Check CALLWATCH_TOKEN / --token-file, then restart.",
                    t.dimmed(),
                )),
            ],
            Conn::Connecting { .. } => vec![Line::from(super::conn_span(app))],
            Conn::Connected { .. } if !live.filter.is_empty() => {
                vec![Line::from(Span::styled(
                    format!(
                        "No call matches \"{}\" (esc clears the filter)",
                        live.filter
                    ),
                    t.dimmed(),
                ))]
            }
            Conn::Connected { .. } => vec![Line::from(Span::styled(
                "No live calls right now",
                t.dimmed(),
            ))],
        };
        super::centered_message(f, inner, lines);
        return;
    }

    let rows_h = inner.height.saturating_sub(1) as usize;
    let top = live.top.min(live.order.len().saturating_sub(rows_h));
    let selected = live.selected.as_deref();
    // Only the visible slice is measured and becomes widget rows.
    let visible: Vec<&Call> = live
        .order
        .iter()
        .skip(top)
        .take(rows_h)
        .filter_map(|id| live.calls.get(id).map(|v| &v.call))
        .collect();
    let cols = layout_columns(app, &visible, inner.width as usize);
    let number_shown = cols.iter().any(|(c, _)| *c == Col::Number);
    let header = Row::new(cols.iter().map(|(c, _)| Cell::from(c.title())))
        .style(t.dimmed().add_modifier(Modifier::BOLD));
    let rows = visible.iter().map(|c| {
        let ended = c.state == CallState::Ended;
        let cells = cols.iter().map(|&(col, w)| {
            let text = trunc(&cell_text(app, col, c, number_shown), w);
            Cell::from(match col {
                Col::State => state_cell(t, c.state),
                Col::Sentiment => sentiment_cell(t, c.sentiment),
                Col::Who
                    if !ended
                        && c.lead.name.as_deref().is_none_or(|n| n.trim().is_empty())
                        && number_shown =>
                {
                    Span::styled(text, t.dimmed())
                }
                Col::Alerts => Span::styled(text, t.fg(t.error)),
                _ if ended => Span::styled(text, t.dimmed()),
                _ => Span::styled(text, t.base()),
            })
        });
        let style = if Some(c.id.as_str()) == selected {
            t.selected()
        } else if ended {
            t.dimmed()
        } else {
            Style::default()
        };
        Row::new(cells).style(style)
    });
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|(_, w)| Constraint::Length(*w as u16))
        .collect();
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    f.render_widget(table, inner);
}

fn transcript(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(v) = app.selected_call() else {
        f.render_widget(super::block(app, " Transcript "), area);
        return;
    };
    let c = &v.call;
    // Most important first: a narrow pane cuts from the end.
    let mut title = vec![
        Span::raw(" "),
        Span::styled(app.who(c), t.title_style()),
        Span::styled(" · ", t.dimmed()),
        state_cell(t, c.state),
    ];
    if let Some(tk) = &c.takeover {
        let phone = if tk.phone.is_some() { " on phone" } else { "" };
        title.push(Span::styled(
            format!(" by {}{phone}", tk.by),
            t.fg(t.state_human),
        ));
    }
    // Someone else looking at the same call matters more than the number.
    let others = app.also_watching(&c.id);
    if !others.is_empty() {
        title.push(Span::styled(
            format!(" · also watching: {}", others.join(", ")),
            t.fg(t.warn).add_modifier(Modifier::BOLD),
        ));
    }
    title.push(Span::styled(
        format!(" · {}", app.number(customer_number(c))),
        t.dimmed(),
    ));
    title.push(Span::raw(" "));
    super::transcript::render(
        f,
        app,
        area,
        Line::from(title),
        &v.transcript,
        &app.live.view,
        c.state.is_active(),
    );
    compliance_line(f, app, c, area);
}

/// Compliance alerts of the selected call, with their messages, on the pane's bottom
/// border: the ALERTS column has no room for what is missing.
fn compliance_line(f: &mut Frame, app: &App, c: &Call, area: Rect) {
    let messages: Vec<&str> = c
        .alerts
        .iter()
        .filter(|a| a.kind.starts_with(crate::core::compliance::ALERT_PREFIX))
        .map(|a| a.message.as_str())
        .collect();
    if messages.is_empty() || area.height < 3 || area.width < 8 {
        return;
    }
    let row = Rect {
        x: area.x + 2,
        y: area.y + area.height - 1,
        width: area.width - 4,
        height: 1,
    };
    let text = format!(" ⚠ {} ", messages.join(" · "));
    f.render_widget(
        Paragraph::new(Span::styled(
            trunc(&text, row.width as usize),
            app.theme.fg(app.theme.error),
        )),
        row,
    );
}
