//! Dialogs: take over (reason + notes), say / instruct (text), confirmations; a dialog whose
//! call ended or was taken over by someone else shows why it can no longer be sent.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::super::app::handoff::{self, VoiceOffer};
use super::super::app::{App, Dialog, TextKind};
use super::super::layout;

pub fn render(f: &mut Frame, app: &App, d: &Dialog, area: Rect) {
    let t = &app.theme;
    let hint = |submit: &str| {
        Line::from(vec![
            Span::styled("enter", t.key_style()),
            Span::styled(format!(" {submit} · "), t.dimmed()),
            Span::styled("esc", t.key_style()),
            Span::styled(" cancel", t.dimmed()),
        ])
    };
    // A dialog whose call ended or was taken over says so where errors go, and offers Esc only.
    let blocked = d.blocked();
    let hint = |submit: &str| match blocked {
        Some(_) => Line::from(vec![
            Span::styled("esc", t.key_style()),
            Span::styled(" close", t.dimmed()),
        ]),
        None => hint(submit),
    };
    let error_line = |e: &Option<String>| match (blocked, e) {
        (Some(b), _) => Line::from(Span::styled(
            format!("⚠ {b}: nothing will be sent"),
            t.fg(t.warn).add_modifier(Modifier::BOLD),
        )),
        (None, Some(e)) => Line::from(Span::styled(
            format!("✗ {e}"),
            t.fg(t.error).add_modifier(Modifier::BOLD),
        )),
        (None, None) => Line::raw(""),
    };
    let field_block = |title: &str, focused: bool| {
        let style = if focused {
            t.fg(t.accent).add_modifier(Modifier::BOLD)
        } else {
            t.border_style()
        };
        Block::default()
            .borders(Borders::ALL)
            .border_style(style)
            .title(title.to_string())
            .title_style(style)
    };
    match d {
        Dialog::TakeOver {
            call_id,
            who,
            reason,
            notes,
            notes_focused,
            by_phone,
            voice_focused,
            error,
            ..
        } => {
            let r = layout::centered(area, 70, 18);
            f.render_widget(Clear, r);
            f.render_widget(
                super::block(app, format!(" Take over the call with {who} ")),
                r,
            );
            let inner = layout::inner(r);
            let [intro, rf, nf, vf, err, h] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(3),
                Constraint::Min(3),
                Constraint::Length(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            let offer = app
                .live
                .calls
                .get(call_id.as_str())
                .map(|v| (handoff::voice_offer(app, &v.call), v.call.provider.clone()));
            if let Some((offer, provider)) = offer {
                let lines = voice_lines(app, &offer, &provider, *by_phone, *voice_focused);
                f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), vf);
            }
            f.render_widget(
                Paragraph::new(Span::styled(
                    "The AI stops talking and the call is yours.",
                    t.base(),
                )),
                intro,
            );
            let rb = field_block(" Reason (required) ", !notes_focused);
            f.render_widget(&rb, rf);
            f.render_widget(&**reason, rb.inner(rf));
            let nb = field_block(" Notes (optional) ", *notes_focused);
            f.render_widget(&nb, nf);
            f.render_widget(&**notes, nb.inner(nf));
            f.render_widget(Paragraph::new(error_line(error)), err);
            let mut hl = hint("take over");
            if blocked.is_none() {
                hl.spans.push(Span::styled(" · ", t.dimmed()));
                hl.spans.push(Span::styled("tab", t.key_style()));
                hl.spans.push(Span::styled(" next field", t.dimmed()));
            }
            f.render_widget(Paragraph::new(hl), h);
        }
        Dialog::Transfer {
            call_id,
            who,
            selected,
            typed,
            warm,
            error,
            ..
        } => {
            let named = handoff::destinations(app);
            let rows = named.len().max(1) as u16;
            let r = layout::centered(area, 70, 12 + rows);
            f.render_widget(Clear, r);
            f.render_widget(
                super::block(app, format!(" Transfer the call with {who} ")),
                r,
            );
            let inner = layout::inner(r);
            let [intro, list, tf, mf, err, h] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Length(rows),
                Constraint::Length(3),
                Constraint::Length(1),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            f.render_widget(
                Paragraph::new(Span::styled(
                    "Put the caller through to a destination of the org, or type one:",
                    t.base(),
                )),
                intro,
            );
            let lines: Vec<Line> = if named.is_empty() {
                let text = if app.session.destinations.is_none() {
                    "  (asking the gateway for the org's destinations…)"
                } else {
                    "  (the org has no named destinations: type a number below)"
                };
                vec![Line::from(Span::styled(text, t.dimmed()))]
            } else {
                named
                    .iter()
                    .enumerate()
                    .map(|(i, d)| {
                        let on = i == *selected;
                        let style = if on {
                            t.fg(t.accent)
                                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
                        } else {
                            t.base()
                        };
                        Line::from(vec![
                            Span::styled(if on { "▸ " } else { "  " }, style),
                            Span::styled(format!("{:<24}", d.name), style),
                            Span::styled(format!(" {}", d.to), style),
                        ])
                    })
                    .collect()
            };
            f.render_widget(Paragraph::new(lines), list);
            let typing = *selected >= named.len();
            let tb = field_block(" Or a number / SIP URI ", typing);
            f.render_widget(&tb, tf);
            f.render_widget(&**typed, tb.inner(tf));
            let warm_ok = app
                .live
                .calls
                .get(call_id.as_str())
                .map_or(Ok(()), |v| handoff::warm_allowed(&v.call));
            let mode = match (warm_ok, *warm) {
                (Err(why), _) => Line::from(Span::styled(
                    format!("Cold: the AI leaves as it rings ({why})"),
                    t.base(),
                )),
                (Ok(()), false) => Line::from(vec![
                    Span::styled("Cold: the AI leaves as it rings · ", t.base()),
                    Span::styled("tab", t.key_style()),
                    Span::styled(" warm", t.dimmed()),
                ]),
                (Ok(()), true) => Line::from(vec![
                    Span::styled(
                        "Warm: they hear a summary first, then the caller · ",
                        t.fg(t.accent).add_modifier(Modifier::BOLD),
                    ),
                    Span::styled("tab", t.key_style()),
                    Span::styled(" cold", t.dimmed()),
                ]),
            };
            f.render_widget(Paragraph::new(mode), mf);
            f.render_widget(Paragraph::new(error_line(error)), err);
            let mut hl = hint("transfer");
            if blocked.is_none() {
                hl.spans.push(Span::styled(" · ", t.dimmed()));
                hl.spans.push(Span::styled("↑/↓", t.key_style()));
                hl.spans.push(Span::styled(" choose", t.dimmed()));
            }
            f.render_widget(Paragraph::new(hl), h);
        }
        Dialog::Text {
            kind,
            who,
            text,
            error,
            ..
        } => {
            let (title, intro, submit) = match kind {
                TextKind::Say => (
                    format!(" Say to {who} "),
                    "The caller hears this, spoken by the voice stack.",
                    "say it",
                ),
                TextKind::Instruct => (
                    format!(" Instruct the AI on the call with {who} "),
                    "A private instruction to the AI; the caller does not hear it.",
                    "send",
                ),
            };
            let r = layout::centered(area, 70, 10);
            f.render_widget(Clear, r);
            f.render_widget(super::block(app, title), r);
            let inner = layout::inner(r);
            let [i, tf, err, h] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Min(3),
                Constraint::Length(1),
                Constraint::Length(1),
            ])
            .areas(inner);
            f.render_widget(Paragraph::new(Span::styled(intro, t.base())), i);
            let b = field_block(" Text ", true);
            f.render_widget(&b, tf);
            f.render_widget(&**text, b.inner(tf));
            f.render_widget(Paragraph::new(error_line(error)), err);
            f.render_widget(Paragraph::new(hint(submit)), h);
        }
        Dialog::ConfirmEnd { who, .. } => confirm(
            f,
            app,
            area,
            " End call ",
            format!("Hang up the call with {who}?"),
            "y / enter: end it · n / esc: keep it",
            blocked,
        ),
        Dialog::ConfirmRecent {
            who, action, news, ..
        } => confirm(
            f,
            app,
            area,
            " Someone just acted on this call ",
            format!("{news}. {} on the call with {who} anyway?", action.label()),
            "y / enter: go ahead · n / esc: leave it",
            blocked,
        ),
        Dialog::ConfirmCancel { who, .. } => confirm(
            f,
            app,
            area,
            " Cancel queued call ",
            format!("Remove the call to {who} from the queue?"),
            "y / enter: cancel it · n / esc: keep it",
            blocked,
        ),
    }
}

/// The take over dialog's voice: what the supervisor can pick, and what it will mean.
fn voice_lines(
    app: &App,
    offer: &VoiceOffer,
    provider: &str,
    by_phone: bool,
    focused: bool,
) -> Vec<Line<'static>> {
    let t = &app.theme;
    let label = Span::styled("Voice: ", t.base().add_modifier(Modifier::BOLD));
    let text_means = "your lines are spoken in the AI's voice; the AI stays silent";
    match offer {
        VoiceOffer::Checking => vec![Line::from(vec![
            label,
            Span::styled(
                "checking whether you can take it on your phone…",
                t.dimmed(),
            ),
        ])],
        VoiceOffer::Unknown => vec![Line::from(vec![
            label,
            Span::styled("type to talk, or your phone if the gateway can", t.base()),
        ])],
        VoiceOffer::Choice { phone } => {
            let pick = |on: bool, text: String| {
                let style = match (on, focused) {
                    (true, true) => t
                        .fg(t.accent)
                        .add_modifier(Modifier::BOLD | Modifier::REVERSED),
                    (true, false) => t.fg(t.accent).add_modifier(Modifier::BOLD),
                    (false, _) => t.dimmed(),
                };
                Span::styled(format!("{} {text}", if on { "●" } else { "○" }), style)
            };
            let mut first = vec![
                label,
                pick(!by_phone, "type to talk".into()),
                Span::raw("   "),
                pick(by_phone, format!("hand off to my phone {phone}")),
            ];
            if !focused {
                first.push(Span::styled("  (tab to choose)", t.dimmed()));
            }
            let means = if by_phone {
                format!("{provider} puts the caller through to your phone; the AI leaves")
            } else {
                text_means.to_string()
            };
            vec![
                Line::from(first),
                Line::from(Span::styled(format!("       {means}"), t.dimmed())),
            ]
        }
        VoiceOffer::TextOnly { why } => vec![
            Line::from(vec![
                label,
                Span::styled("type to talk only, in the AI's voice", t.base()),
            ]),
            Line::from(Span::styled(format!("Not by phone: {why}"), t.dimmed())),
        ],
        VoiceOffer::PhoneOnly { phone, why } => vec![
            Line::from(vec![
                label,
                Span::styled(format!("your phone {phone} only"), t.base()),
            ]),
            Line::from(Span::styled(format!("Not by text: {why}"), t.dimmed())),
        ],
        VoiceOffer::Refused { why } => vec![Line::from(vec![
            label,
            Span::styled(
                format!("✗ {why}"),
                t.fg(t.error).add_modifier(Modifier::BOLD),
            ),
        ])],
    }
}

fn confirm(
    f: &mut Frame,
    app: &App,
    area: Rect,
    title: &str,
    question: String,
    keys: &str,
    blocked: Option<&str>,
) {
    let t = &app.theme;
    let r = layout::centered(area, 60, 6);
    f.render_widget(Clear, r);
    let (warning, keys) = match blocked {
        Some(b) => (
            Line::from(Span::styled(
                format!("⚠ {b}"),
                t.fg(t.warn).add_modifier(Modifier::BOLD),
            )),
            "esc: close",
        ),
        None => (Line::raw(""), keys),
    };
    let lines = vec![
        Line::raw(""),
        Line::from(Span::styled(
            question,
            t.base().add_modifier(Modifier::BOLD),
        )),
        warning,
        Line::from(Span::styled(keys.to_string(), t.dimmed())),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .block(super::block(app, title.to_string())),
        r,
    );
}
