//! `?`: help generated from the action table and the live keymap, grouped by where keys
//! work.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::super::app::App;
use super::super::keys::{Action, Scope, ACTIONS};
use super::super::layout;

pub fn render(f: &mut Frame, app: &App, body: Rect) {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let key_w = Action::all()
        .map(|a| app.keymap.describe(a).chars().count())
        .max()
        .unwrap_or(8)
        + 2;
    for scope in Scope::ALL {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::from(Span::styled(scope.title(), t.title_style())));
        for spec in ACTIONS.iter().filter(|s| s.scope == scope) {
            let keys = app.keymap.describe(spec.action);
            let keys = if keys.is_empty() {
                "(unbound)".to_string()
            } else {
                keys
            };
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<key_w$}"), t.key_style()),
                Span::styled(spec.label, t.base()),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("Dialogs", t.title_style())));
    // Short lines: the help may flow into narrow columns.
    for hint in [
        "  enter submit · esc cancel",
        "  tab next field",
        "  y/enter confirm · n/esc no",
    ] {
        lines.push(Line::from(Span::styled(hint, t.base())));
    }

    let r = layout::centered(body, body.width.saturating_sub(4), body.height);
    f.render_widget(Clear, r);
    let title = format!(
        " Help · keys from your config · {} or {} closes ",
        app.keymap.first(Action::Help),
        app.keymap.first(Action::Back)
    );
    f.render_widget(super::block(app, title), r);
    let inner = layout::inner(r);
    // Flow into as many columns as needed.
    let h = inner.height.max(1) as usize;
    let ncols = lines.len().div_ceil(h).max(1);
    let col_w = inner.width / ncols as u16;
    for (i, chunk) in lines.chunks(h).enumerate() {
        let area = Rect::new(inner.x + col_w * i as u16, inner.y, col_w, inner.height);
        f.render_widget(Paragraph::new(chunk.to_vec()), area);
    }
}
