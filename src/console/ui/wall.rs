//! The wall (`w`): 2, 4 or 6 live transcripts at once, each following its call. The focused
//! tile is the selected call: every call key acts on it, and it scrolls and searches like the
//! single transcript pane; the others follow their newest line.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::super::app::{format_duration, App, TranscriptView};
use super::super::theme::state_cell;

/// Rows × columns for a wall of `n` tiles in `area` (wide terminals get more columns).
fn grid(n: usize, area: Rect) -> (usize, usize) {
    let wide = area.width >= 2 * area.height * 2;
    match (n, wide) {
        (0..=2, true) => (1, 2),
        (0..=2, false) => (2, 1),
        (3..=4, _) => (2, 2),
        (_, true) => (2, 3),
        (_, false) => (3, 2),
    }
}

/// The tiles' rectangles, row by row.
pub fn tiles(n: usize, area: Rect) -> Vec<Rect> {
    let (rows, cols) = grid(n, area);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, rows as u32); rows]).split(area);
    row_areas
        .iter()
        .flat_map(|r| {
            Layout::horizontal(vec![Constraint::Ratio(1, cols as u32); cols])
                .split(*r)
                .to_vec()
        })
        .take(n)
        .collect()
}

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let live = app.live();
    let selected = live.selected_id();
    // The other tiles follow their newest line.
    let follow = TranscriptView::default();
    let areas = tiles(live.wall_size, body);
    for (i, area) in areas.iter().enumerate() {
        let Some(v) = live.wall().get(i).and_then(|id| live.get(id)) else {
            f.render_widget(
                super::block(app, Span::styled(" (no call) ", t.dimmed())),
                *area,
            );
            continue;
        };
        let c = &v.call;
        let focused = selected == Some(c.id.as_str());
        let mut title = vec![Span::raw(" ")];
        if focused {
            title.push(Span::styled(
                "▶ ",
                t.fg(t.accent).add_modifier(Modifier::BOLD),
            ));
        }
        title.push(Span::styled(app.who(c), t.title_style()));
        title.push(Span::styled(" · ", t.dimmed()));
        title.push(state_cell(t, c.state));
        if let Some(d) = c.duration_at(app.now) {
            title.push(Span::styled(
                format!(" · {}", format_duration(d)),
                t.dimmed(),
            ));
        }
        let others = app.also_watching(&c.id);
        if !others.is_empty() {
            title.push(Span::styled(
                format!(" · also watching: {}", others.join(", ")),
                t.fg(t.warn),
            ));
        }
        if !c.alerts.is_empty() {
            title.push(Span::styled(
                format!(" ⚠ {}", c.alerts.len()),
                t.fg(t.error),
            ));
        }
        title.push(Span::raw(" "));
        let view = if focused { &live.view } else { &follow };
        super::transcript::render(
            f,
            app,
            *area,
            Line::from(title),
            &v.transcript,
            view,
            c.state.is_active(),
        );
    }
}
