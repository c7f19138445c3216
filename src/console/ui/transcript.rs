//! The transcript pane, shared by the Calls screen and an open History call.

use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::super::app::{App, TranscriptView};
use super::super::layout;
use super::super::transcript::{
    clock, find_all, speaker_label, Transcript, LABEL_WIDTH, TIME_WIDTH,
};
use crate::core::model::Speaker;

pub fn render(
    f: &mut Frame,
    app: &App,
    area: Rect,
    title: Line<'static>,
    transcript: &Transcript,
    view: &TranscriptView,
    live: bool,
) {
    let t = &app.theme;
    let inner = layout::inner(area);
    let mut cache = transcript.cache.borrow_mut();
    cache.ensure(&transcript.entries, inner.width as usize, view.timestamps);
    let total = cache.rows.len();
    let h = inner.height as usize;
    let top = view.visible_top(total, h);

    let below = total.saturating_sub(top + h);
    let key = app.keymap.first(super::super::keys::Action::Follow);
    let mode = if view.follow && live {
        Span::styled(" ● following ", t.fg(t.ok))
    } else if below == 0 && !live {
        Span::styled(" end ", t.dimmed())
    } else if below == 0 {
        Span::styled(format!(" paused · {key}: follow "), t.fg(t.warn))
    } else {
        Span::styled(format!(" ↓{below} · {key}: follow "), t.fg(t.warn))
    };
    // The left title gives way to the mode on narrow panes.
    let room = (area.width as usize).saturating_sub(mode.width() + 3);
    let title = fit(title, room);
    let mut block = super::block(app, title).title_top(Line::from(mode).right_aligned());
    if !view.search.is_empty() {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" search: {} ", view.search),
            t.fg(t.search_match),
        )));
    }
    f.render_widget(block, area);

    if transcript.entries.is_empty() {
        let text = if live {
            "waiting for the first words…"
        } else {
            "no transcript"
        };
        f.render_widget(Paragraph::new(Span::styled(text, t.dimmed())), inner);
        return;
    }

    let mut lines = Vec::with_capacity(h);
    for (i, row) in cache.rows.iter().enumerate().skip(top).take(h) {
        let Some(entry) = transcript.entries.get(row.entry as usize) else {
            continue;
        };
        let mut spans = Vec::with_capacity(6);
        if view.timestamps {
            if row.first {
                spans.push(Span::styled(format!("{} ", clock(entry.at)), t.dimmed()));
            } else {
                spans.push(Span::raw(" ".repeat(TIME_WIDTH)));
            }
        }
        let colour = match entry.speaker {
            Speaker::Caller => t.speaker_caller,
            Speaker::Ai => t.speaker_ai,
            Speaker::Human => t.speaker_human,
            Speaker::System => t.speaker_system,
        };
        if row.first {
            spans.push(Span::styled(
                format!("{:<w$}", speaker_label(entry.speaker), w = LABEL_WIDTH - 2),
                t.fg(colour).add_modifier(Modifier::BOLD),
            ));
        } else {
            spans.push(Span::raw(" ".repeat(LABEL_WIDTH - 2)));
        }
        spans.push(Span::styled("│ ", t.fg(colour)));
        let body = if entry.is_final {
            t.base()
        } else {
            t.dimmed().add_modifier(Modifier::ITALIC)
        };
        let body = if view.current_match == Some(i) {
            body.add_modifier(Modifier::BOLD)
        } else {
            body
        };
        push_highlighted(&mut spans, &row.text, &view.search, body, t.highlight());
        let last_row_of_entry = cache
            .rows
            .get(i + 1)
            .is_none_or(|next| next.entry != row.entry);
        if !entry.is_final && last_row_of_entry {
            spans.push(Span::styled(" …", t.dimmed()));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn push_highlighted(
    spans: &mut Vec<Span<'static>>,
    text: &str,
    needle: &str,
    base: ratatui::style::Style,
    hl: ratatui::style::Style,
) {
    let mut last = 0;
    for (a, b) in find_all(text, needle) {
        if a > last {
            spans.push(Span::styled(text[last..a].to_string(), base));
        }
        spans.push(Span::styled(text[a..b].to_string(), hl));
        last = b;
    }
    if last < text.len() {
        spans.push(Span::styled(text[last..].to_string(), base));
    }
}

/// Cuts a line to `max` columns, ending in "…" when cut.
fn fit(line: Line<'static>, max: usize) -> Line<'static> {
    if line.width() <= max {
        return line;
    }
    let mut out = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let w = span.width();
        if used + w < max {
            used += w;
            out.push(span);
            continue;
        }
        let mut text = String::new();
        for c in span.content.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + cw + 1 > max {
                break;
            }
            used += cw;
            text.push(c);
        }
        text.push('…');
        out.push(Span::styled(text, span.style));
        break;
    }
    Line::from(out)
}
