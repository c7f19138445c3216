//! The call detail panel (`v`): everything about one call at a glance — provider and what it
//! can do, who holds it, intent, sentiment, alerts with their messages, cost, duration,
//! summary, recording and the call's audit trail. Live and lingering ended calls alike.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::{format_duration, App};
use super::super::filter::{direction_label, sentiment_labels};
use super::super::theme::state_cell;
use crate::core::action::ActionKind;
use crate::core::compliance::Check;
use crate::core::model::Call;

pub fn render(f: &mut Frame, app: &App, area: Rect, call: &Call) {
    let t = &app.theme;
    let inner = super::super::layout::inner(area);
    f.render_widget(super::block(app, " Details "), area);
    let label = |s: &str| Span::styled(format!("{s:<10}"), t.dimmed());
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut row = |name: &str, spans: Vec<Span<'static>>| {
        let mut l = vec![label(name)];
        l.extend(spans);
        lines.push(Line::from(l));
    };
    row(
        "state",
        vec![
            state_cell(t, call.state),
            Span::styled(
                call.outcome
                    .as_deref()
                    .map(|o| format!(" · {o}"))
                    .unwrap_or_default(),
                t.base(),
            ),
        ],
    );
    if let Some(tk) = &call.takeover {
        row(
            "held by",
            vec![Span::styled(
                match &tk.phone {
                    Some(p) => format!("{} on phone {p} since {}", tk.by, tk.at.format("%H:%M:%S")),
                    None => format!("{} since {}", tk.by, tk.at.format("%H:%M:%S")),
                },
                t.fg(t.state_human),
            )],
        );
        row("reason", vec![Span::styled(tk.reason.clone(), t.base())]);
        if let Some(n) = tk.notes.as_deref().filter(|n| !n.is_empty()) {
            row("notes", vec![Span::styled(n.to_string(), t.base())]);
        }
    }
    let can: Vec<&str> = ActionKind::ALL
        .iter()
        .filter(|k| {
            k.check(
                call,
                app.session.role.unwrap_or(crate::core::model::Role::Viewer),
            )
            .is_ok()
        })
        .map(|k| k.name())
        .collect();
    row(
        "provider",
        vec![Span::styled(
            format!(
                "{} ({}) · {}",
                call.provider,
                call.integration,
                direction_label(call.direction)
            ),
            t.base(),
        )],
    );
    row(
        "can now",
        vec![Span::styled(
            if can.is_empty() {
                "nothing (ended, or not allowed for your role)".to_string()
            } else {
                can.join(", ")
            },
            t.base(),
        )],
    );
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "–".into());
    row("intent", vec![Span::styled(opt(&call.intent), t.base())]);
    row(
        "sentiment",
        vec![Span::styled(
            sentiment_labels(call.sentiment)[1].to_string(),
            t.base(),
        )],
    );
    row(
        "duration",
        vec![Span::styled(
            call.duration_at(app.now)
                .map(format_duration)
                .unwrap_or_else(|| "–".into()),
            t.base(),
        )],
    );
    row(
        "cost",
        vec![Span::styled(
            call.cost
                .map(|c| format!("${c:.2}"))
                .unwrap_or_else(|| "–".into()),
            t.base(),
        )],
    );
    if let Some(r) = &call.recording_url {
        row("recording", vec![Span::styled(r.clone(), t.fg(t.accent))]);
    }
    row(
        "summary",
        vec![Span::styled(
            call.summary.clone().unwrap_or_else(|| {
                let k = app.keymap.first(super::super::keys::Action::Summarize);
                format!("none yet ({k} asks for one)")
            }),
            t.base(),
        )],
    );
    row("compliance", compliance_spans(app, call, false));
    if call.alerts.is_empty() {
        row("alerts", vec![Span::styled("none", t.dimmed())]);
    }
    for a in &call.alerts {
        row(
            "alert",
            vec![
                Span::styled(format!("{} ", a.at.format("%H:%M:%S")), t.dimmed()),
                Span::styled(
                    format!("⚠ {} ", a.kind),
                    t.fg(t.error).add_modifier(Modifier::BOLD),
                ),
                Span::styled(a.message.clone(), t.base()),
            ],
        );
    }
    let audit: Vec<_> = app.audit_of(&call.id).collect();
    if !audit.is_empty() {
        lines.push(Line::from(Span::styled("audit", t.dimmed())));
    }
    // Newest first: the panel is short, the latest matters most.
    for e in audit.iter().rev() {
        let mut spans = vec![
            Span::styled(format!("{} ", e.at.format("%H:%M:%S")), t.dimmed()),
            Span::styled(
                format!("{} ", e.actor),
                t.base().add_modifier(Modifier::BOLD),
            ),
            Span::styled(e.action.clone(), t.base()),
        ];
        if let Some(r) = e.reason.as_deref().filter(|r| !r.is_empty()) {
            spans.push(Span::styled(format!(" · {r}"), t.dimmed()));
        }
        if !e.ok {
            spans.push(Span::styled(
                format!(" ✗ {}", e.error.clone().unwrap_or_default()),
                t.fg(t.error),
            ));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The call's stored compliance status, coloured by its worst check; `short` for a table
/// cell (`ok`, `miss`, `VIOL`). Before the deadline (or unwatched) a dimmed dash / "not
/// checked".
pub fn compliance_spans(app: &App, call: &Call, short: bool) -> Vec<Span<'static>> {
    let t = &app.theme;
    let Some(st) = &call.compliance else {
        let text = if short { "–" } else { " not checked (yet)" };
        return vec![Span::styled(text, t.dimmed())];
    };
    let style = match st.worst() {
        Check::Ok => t.fg(t.ok),
        Check::Missing => t.fg(t.warn),
        Check::Violation => t.fg(t.error).add_modifier(Modifier::BOLD),
    };
    let text = match (short, st.worst()) {
        (false, _) => format!(" {}", st.label()),
        (true, Check::Ok) => "ok".into(),
        (true, Check::Missing) => "miss".into(),
        (true, Check::Violation) => "VIOL".into(),
    };
    vec![Span::styled(text, style)]
}
