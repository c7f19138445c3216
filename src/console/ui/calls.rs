//! Calls screen: the live table and the selected call's transcript.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::super::app::{customer_number, format_duration, App, Conn};
use super::super::layout;
use super::super::theme::Theme;
use crate::core::model::{Call, CallState, Sentiment};

pub fn state_cell(t: &Theme, s: CallState) -> Span<'static> {
    let (text, colour) = match s {
        CallState::InProgress => ("● AI", t.state_ai),
        CallState::AiPaused => ("‖ PAUSED", t.state_paused),
        CallState::TakenOver => ("◆ HUMAN", t.state_human),
        CallState::Ringing => ("◌ RING", t.state_ringing),
        CallState::Queued => ("· QUEUED", t.dim),
        CallState::Ended => ("✓ ENDED", t.dim),
    };
    let style = t.fg(colour);
    let style = if matches!(s, CallState::AiPaused | CallState::TakenOver) {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    };
    Span::styled(text, style)
}

fn sentiment_cell(t: &Theme, s: Sentiment) -> Span<'static> {
    match s {
        Sentiment::Positive => Span::styled("pos", t.fg(t.positive)),
        Sentiment::Neutral => Span::styled("neu", t.base()),
        Sentiment::Negative => Span::styled("NEG", t.fg(t.negative).add_modifier(Modifier::BOLD)),
        Sentiment::Unknown => Span::styled("–", t.dimmed()),
    }
}

fn alerts_cell(t: &Theme, call: &Call, width: usize) -> Span<'static> {
    // A compliance alert says what is missing: its message, not its kind.
    let compliance = call
        .alerts
        .iter()
        .find(|a| a.kind.starts_with(crate::core::compliance::ALERT_PREFIX));
    if let Some(a) = compliance {
        let more = match call.alerts.len() {
            1 => String::new(),
            n => format!("{n}: "),
        };
        return Span::styled(
            trunc(&format!("⚠ {more}{}", a.message), width),
            t.fg(t.error),
        );
    }
    match call.alerts.len() {
        0 => Span::raw(""),
        1 => Span::styled(
            trunc(&format!("⚠ {}", call.alerts[0].kind), width),
            t.fg(t.error),
        ),
        n => Span::styled(trunc(&format!("⚠ {n} alerts"), width), t.fg(t.error)),
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

    fn width(self) -> Constraint {
        match self {
            Col::State => Constraint::Length(8),
            Col::Who => Constraint::Min(10),
            Col::Number => Constraint::Length(13),
            Col::Campaign => Constraint::Length(10),
            Col::Provider => Constraint::Length(8),
            Col::Intent => Constraint::Length(10),
            Col::Sentiment => Constraint::Length(4),
            Col::Duration => Constraint::Length(7),
            Col::Alerts => Constraint::Length(10),
        }
    }

    /// Fixed width of the column (the flexible WHO column has none).
    fn fixed(self) -> Option<usize> {
        match self.width() {
            Constraint::Length(n) => Some(n as usize),
            _ => None,
        }
    }

    fn min(self) -> u16 {
        match self.width() {
            Constraint::Length(n) | Constraint::Min(n) => n + 1,
            _ => 1,
        }
    }
}

/// Columns by priority; the less important ones go first on narrow terminals.
fn columns(width: u16) -> Vec<Col> {
    let priority = [
        Col::State,
        Col::Who,
        Col::Duration,
        Col::Number,
        Col::Alerts,
        Col::Intent,
        Col::Sentiment,
        Col::Campaign,
        Col::Provider,
    ];
    let mut used = 0u16;
    let mut keep = Vec::new();
    for c in priority {
        let w = c.min() + if c == Col::Who { 4 } else { 0 };
        if used + w <= width {
            used += w;
            keep.push(c);
        }
    }
    let order = [
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
    order.into_iter().filter(|c| keep.contains(c)).collect()
}

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let areas = layout::calls(body);
    table(f, app, areas.table);
    transcript(f, app, areas.transcript);
}

fn table(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let live = app.live();
    let title = format!(" Live calls ({}) ", live.order.len());
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

    let cols = columns(inner.width);
    let header = Row::new(cols.iter().map(|c| Cell::from(c.title())))
        .style(t.dimmed().add_modifier(Modifier::BOLD));
    let rows_h = inner.height.saturating_sub(1) as usize;
    let top = live.top.min(live.order.len().saturating_sub(rows_h));
    let selected = live.selected.as_deref();
    // Only the visible slice becomes widget rows.
    let rows = live.order.iter().skip(top).take(rows_h).filter_map(|id| {
        let v = live.calls.get(id)?;
        let c = &v.call;
        let cells = cols.iter().map(|col| {
            let w = col.fixed().unwrap_or(usize::MAX);
            let text = |s: &str| trunc(s, w);
            Cell::from(match col {
                Col::State => state_cell(t, c.state),
                // The number has its own column: an unnamed caller is not shown twice.
                Col::Who => match c.lead.name.as_deref().filter(|n| !n.trim().is_empty()) {
                    Some(n) => Span::styled(n.to_string(), t.base()),
                    None if cols.contains(&Col::Number) => Span::styled("unknown", t.dimmed()),
                    None => Span::styled(app.who(c), t.base()),
                },
                Col::Number => Span::styled(app.number(customer_number(c)), t.base()),
                Col::Campaign => Span::styled(text(c.campaign.as_deref().unwrap_or("")), t.base()),
                Col::Provider => Span::styled(text(&c.provider), t.base()),
                Col::Intent => Span::styled(text(c.intent.as_deref().unwrap_or("")), t.base()),
                Col::Sentiment => sentiment_cell(t, c.sentiment),
                Col::Duration => Span::styled(
                    c.duration_at(app.now)
                        .map(format_duration)
                        .unwrap_or_default(),
                    t.base(),
                ),
                Col::Alerts => alerts_cell(t, c, w),
            })
        });
        let style = if Some(id.as_str()) == selected {
            t.selected()
        } else {
            Style::default()
        };
        Some(Row::new(cells).style(style))
    });
    let widths: Vec<Constraint> = cols.iter().map(|c| c.width()).collect();
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
        title.push(Span::styled(format!(" by {}", tk.by), t.fg(t.state_human)));
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
        true,
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
