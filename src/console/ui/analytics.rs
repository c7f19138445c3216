//! Analytics screen: KPIs, calls-per-minute sparkline, intents and outcomes as bar charts.

use std::collections::BTreeMap;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::super::app::{format_duration, App};
use super::super::layout;

fn pct(x: f64) -> String {
    format!("{:.0}%", (x * 100.0).clamp(0.0, 100.0))
}

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let view = &app.analytics_view;
    // A range or grouping (`:analytics 7d campaign`) shows its answer; else the stream's.
    let a = match (&view.data, view.is_live()) {
        (_, true) => &app.analytics,
        (Some(a), false) => a,
        (None, false) => {
            let title = format!(" Analytics · {} ", view.label());
            f.render_widget(super::block(app, title), body);
            let line = match &view.error {
                Some(e) => Line::from(Span::styled(format!("✗ {e}"), t.fg(t.error))),
                None => Line::from(Span::styled("loading…", t.dimmed())),
            };
            return super::centered_message(f, layout::inner(body), vec![line]);
        }
    };

    let [kpi1, kpi2, spark, bars] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Min(3),
    ])
    .areas(body);
    let takeover_rate = if a.total_calls > 0 {
        a.takeovers as f64 / a.total_calls as f64
    } else {
        0.0
    };
    let tiles1 = [
        (
            "Calls",
            a.total_calls.to_string(),
            format!("in {} · out {}", a.inbound_calls, a.outbound_calls),
        ),
        (
            "Completed",
            a.completed_calls.to_string(),
            pct(a.completion_rate),
        ),
        ("Missed", a.missed_calls.to_string(), String::new()),
        (
            "Takeovers",
            a.takeovers.to_string(),
            format!("{} of calls", pct(takeover_rate)),
        ),
    ];
    let tiles2 = [
        ("AI containment", pct(a.ai_containment_rate), String::new()),
        (
            "Avg handle",
            format_duration(a.avg_handle_seconds),
            String::new(),
        ),
        (
            "Talk time",
            format!("{:.0} min", a.total_duration_minutes),
            String::new(),
        ),
        ("Cost", format!("${:.2}", a.total_cost), String::new()),
    ];
    for (row, tiles) in [(kpi1, tiles1), (kpi2, tiles2)] {
        let cells = Layout::horizontal([Constraint::Ratio(1, 4); 4]).split(row);
        for (cell, (label, value, sub)) in cells.iter().zip(tiles) {
            let line = Line::from(vec![
                Span::styled(value, t.fg(t.accent).add_modifier(Modifier::BOLD)),
                Span::styled(
                    if sub.is_empty() {
                        String::new()
                    } else {
                        format!("  {sub}")
                    },
                    t.dimmed(),
                ),
            ]);
            f.render_widget(
                Paragraph::new(line).block(super::block(app, format!(" {label} "))),
                *cell,
            );
        }
    }

    let data: Vec<u64> = a.calls_per_minute.iter().map(|m| m.count).collect();
    let peak = data.iter().copied().max().unwrap_or(0);
    let last = data.last().copied().unwrap_or(0);
    // A range other than the stream's says so here, above the figures it changes.
    let title = if view.is_live() {
        format!(" Calls per minute · now {last} · peak {peak} ")
    } else {
        format!(
            " {} · calls per minute (last hour of the range) · now {last} · peak {peak} ",
            view.label()
        )
    };
    let inner_w = layout::inner(spark).width as usize;
    // The newest minutes, as many as fit, with "now" at the right edge.
    let mut shown = vec![0u64; inner_w.saturating_sub(data.len())];
    shown.extend_from_slice(&data[data.len().saturating_sub(inner_w)..]);
    f.render_widget(
        Sparkline::default()
            .block(super::block(app, title))
            .data(&shown)
            .style(t.fg(t.chart)),
        spark,
    );

    if !a.groups.is_empty() {
        return groups(f, app, bars, a);
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bars);
    bar_chart(f, app, left, " Intents ", &a.intents);
    bar_chart(f, app, right, " Outcomes ", &a.outcomes);
}

/// Horizontal bars, largest first: `name  ███████ 12`.
fn bar_chart(f: &mut Frame, app: &App, area: Rect, title: &str, counts: &BTreeMap<String, u64>) {
    let t = &app.theme;
    f.render_widget(super::block(app, title.to_string()), area);
    let inner = layout::inner(area);
    let mut items: Vec<(&String, &u64)> = counts.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if items.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled("no data yet", t.dimmed())),
            inner,
        );
        return;
    }
    let max = items.iter().map(|(_, v)| **v).max().unwrap_or(1).max(1);
    let name_w = items
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0)
        .min(18);
    let num_w = max.to_string().len();
    let bar_w = (inner.width as usize)
        .saturating_sub(name_w + num_w + 3)
        .max(1);
    let lines: Vec<Line> = items
        .iter()
        .take(inner.height as usize)
        .map(|(k, v)| {
            let len = ((**v as f64 / max as f64) * bar_w as f64).round() as usize;
            let name: String = if k.chars().count() > name_w {
                k.chars().take(name_w - 1).chain(['…']).collect()
            } else {
                k.to_string()
            };
            Line::from(vec![
                Span::styled(format!("{name:<name_w$} "), t.base()),
                Span::styled("█".repeat(len.max(usize::from(**v > 0))), t.fg(t.chart)),
                Span::styled(format!(" {v}"), t.dimmed()),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// One row per group (campaign, provider or line), busiest first.
fn groups(f: &mut Frame, app: &App, area: Rect, a: &crate::core::model::Analytics) {
    use ratatui::widgets::{Row, Table};
    let t = &app.theme;
    let by = app.analytics_view.group_by.as_deref().unwrap_or("group");
    f.render_widget(super::block(app, format!(" By {by} ")), area);
    let mut rows: Vec<(&String, &crate::core::model::Analytics)> = a.groups.iter().collect();
    rows.sort_by(|x, y| y.1.total_calls.cmp(&x.1.total_calls).then(x.0.cmp(y.0)));
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(10),
        Constraint::Length(9),
    ];
    let name_w = Layout::horizontal(widths)
        .spacing(1)
        .split(layout::inner(area))[0]
        .width;
    let header = Row::new([
        "NAME",
        "CALLS",
        "COMPLETE",
        "MISSED",
        "TAKEOVERS",
        "CONTAINMENT",
        "AVG HANDLE",
        "COST",
    ])
    .style(t.dimmed().add_modifier(Modifier::BOLD));
    let body = rows.into_iter().map(|(name, g)| {
        Row::new(vec![
            super::calls::trunc(name, name_w as usize),
            g.total_calls.to_string(),
            pct(g.completion_rate),
            g.missed_calls.to_string(),
            g.takeovers.to_string(),
            pct(g.ai_containment_rate),
            format_duration(g.avg_handle_seconds),
            format!("${:.2}", g.total_cost),
        ])
        .style(t.base())
    });
    f.render_widget(
        Table::new(body, widths).header(header).column_spacing(1),
        layout::inner(area),
    );
}
