//! History screen: search ended calls; open one for its transcript, summary and costs.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::super::app::{customer_number, format_duration, App, HistoryDetail};
use super::super::layout;
use super::calls::trunc;
use crate::core::model::Direction;

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    match &app.history.detail {
        Some(d) => detail(f, app, body, d),
        None => list(f, app, body),
    }
}

fn list(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let h = &app.history;
    let q = if h.query.is_empty() {
        String::from("all")
    } else {
        format!("\"{}\"", h.query)
    };
    let title = format!(" History · {q} · {} calls ", h.results.len());
    f.render_widget(super::block(app, title), body);
    let inner = layout::inner(body);
    if let Some(e) = &h.error {
        super::centered_message(
            f,
            inner,
            vec![
                Line::from(Span::styled(
                    "Cannot load the history",
                    t.fg(t.error).add_modifier(Modifier::BOLD),
                )),
                Line::from(Span::styled(e.clone(), t.base())),
            ],
        );
        return;
    }
    if h.loading && h.results.is_empty() {
        super::centered_message(
            f,
            inner,
            vec![Line::from(Span::styled("loading…", t.dimmed()))],
        );
        return;
    }
    if h.results.is_empty() {
        let k = app.keymap.first(super::super::keys::Action::Filter);
        super::centered_message(
            f,
            inner,
            vec![Line::from(Span::styled(
                format!("No ended calls found ({k} to search)"),
                t.dimmed(),
            ))],
        );
        return;
    }
    let header = Row::new([
        "STARTED", "DIR", "WHO", "NUMBER", "CAMPAIGN", "INTENT", "OUTCOME", "SENT", "HUMAN",
        "COMPL", "TIME", "COST",
    ])
    .style(t.dimmed().add_modifier(Modifier::BOLD));
    // Spare width goes to the text columns, most to WHO; cut text ends in "…".
    let widths = [
        Constraint::Length(11),
        Constraint::Length(3),
        Constraint::Fill(3),
        Constraint::Length(13),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let cols = Layout::horizontal(widths).spacing(1).split(inner);
    let col_width = |i: usize| cols[i].width as usize;
    let rows_h = inner.height.saturating_sub(1) as usize;
    let top = h.top.min(h.results.len().saturating_sub(rows_h));
    let rows = h
        .results
        .iter()
        .enumerate()
        .skip(top)
        .take(rows_h)
        .map(|(i, c)| {
            let style = if i == h.selected {
                t.selected()
            } else {
                Style::default()
            };
            Row::new(vec![
                // The gateway pages history newest-started first; the column shows that key.
                Cell::from(
                    c.started_at
                        .unwrap_or(c.created_at)
                        .format("%m-%d %H:%M")
                        .to_string(),
                ),
                Cell::from(match c.direction {
                    Direction::Inbound => "in",
                    Direction::Outbound => "out",
                }),
                Cell::from(trunc(&app.who(c), col_width(2))),
                Cell::from(app.number(customer_number(c))),
                Cell::from(trunc(
                    c.campaign.as_deref().unwrap_or_default(),
                    col_width(4),
                )),
                Cell::from(trunc(c.intent.as_deref().unwrap_or_default(), col_width(5))),
                Cell::from(trunc(
                    c.outcome.as_deref().unwrap_or_default(),
                    col_width(6),
                )),
                Cell::from(crate::console::filter::sentiment_labels(c.sentiment)[0]),
                Cell::from(trunc(
                    c.takeover
                        .as_ref()
                        .map(|t| t.by.as_str())
                        .unwrap_or_default(),
                    col_width(8),
                )),
                Cell::from(Line::from(super::detail::compliance_spans(app, c, true))),
                Cell::from(c.duration_secs.map(format_duration).unwrap_or_default()),
                Cell::from(c.cost.map(|x| format!("${x:.2}")).unwrap_or_default()),
            ])
            .style(style)
        });
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}

fn detail(f: &mut Frame, app: &App, body: Rect, d: &HistoryDetail) {
    let t = &app.theme;
    let areas = layout::history_detail(body);
    let c = &d.call;
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<10}"), t.dimmed()),
            Span::styled(v, t.base()),
        ])
    };
    let dir = match c.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    };
    let mut lines = vec![
        field(
            "Number",
            format!("{} ({dir})", app.number(customer_number(c))),
        ),
        field("Campaign", c.campaign.clone().unwrap_or_else(|| "–".into())),
        field(
            "Provider",
            format!(
                "{} · {}",
                c.provider,
                c.assistant.clone().unwrap_or_default()
            ),
        ),
        field(
            "Started",
            c.started_at
                .map(|s| s.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "–".into()),
        ),
        field(
            "Duration",
            c.duration_secs
                .map(format_duration)
                .unwrap_or_else(|| "–".into()),
        ),
        field("Outcome", c.outcome.clone().unwrap_or_else(|| "–".into())),
        field(
            "Cost",
            c.cost
                .map(|x| format!("${x:.2}"))
                .unwrap_or_else(|| "–".into()),
        ),
        field("Intent", c.intent.clone().unwrap_or_else(|| "–".into())),
        field(
            "Recording",
            c.recording_url.clone().unwrap_or_else(|| "–".into()),
        ),
    ];
    let mut compliance = vec![Span::styled(format!("{:<9}", "Compliance"), t.dimmed())];
    compliance.extend(super::detail::compliance_spans(app, c, false));
    lines.push(Line::from(compliance));
    if let Some(tk) = &c.takeover {
        lines.push(field("Taken by", format!("{}: {}", tk.by, tk.reason)));
        if let Some(n) = &tk.notes {
            lines.push(field("Notes", n.clone()));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("Summary", t.dimmed())));
    lines.push(Line::from(Span::styled(
        c.summary.clone().unwrap_or_else(|| "no summary".into()),
        t.base(),
    )));
    if let Some(e) = &d.error {
        lines.push(Line::raw(""));
        lines.push(Line::from(Span::styled(format!("✗ {e}"), t.fg(t.error))));
    }
    let title = Line::from(vec![
        Span::raw(" "),
        Span::styled(app.who(c), t.title_style()),
        Span::raw(" "),
    ]);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(super::block(app, title)),
        areas.meta,
    );
    let title = if d.loading {
        Line::from(Span::styled(" Transcript · loading… ", t.dimmed()))
    } else {
        Line::from(format!(
            " Transcript · {} lines ",
            d.transcript.entries.len()
        ))
    };
    super::transcript::render(
        f,
        app,
        areas.transcript,
        title,
        &d.transcript,
        &d.view,
        false,
    );
}
