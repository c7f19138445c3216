//! The transcript in focus (the selected call's, or an open History call's): scrolling,
//! following and search.

use crossterm::event::{MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::info;
use crate::console::app::{App, Screen, TranscriptView};
use crate::console::layout;
use crate::console::transcript::{find_all, Transcript};

/// Rows a scroll key or wheel notch moves.
pub(super) const SCROLL_STEP: isize = 3;

pub(super) fn mouse(app: &mut App, ev: MouseEvent) {
    match ev.kind {
        MouseEventKind::ScrollUp => scroll(app, -SCROLL_STEP),
        MouseEventKind::ScrollDown => scroll(app, SCROLL_STEP),
        _ => app.dirty = false,
    }
}

/// The transcript in focus and its view: the selected call, or an open history call.
pub(super) fn view_mut(app: &mut App) -> Option<&mut TranscriptView> {
    match app.screen {
        Screen::Calls => app.live.selected.as_ref().map(|_| &mut app.live.view),
        Screen::History => app.history.detail.as_mut().map(|d| &mut d.view),
        _ => None,
    }
}

fn focused_transcript(app: &mut App) -> Option<(&Transcript, &mut TranscriptView, Rect)> {
    let body = layout::body(app.area());
    match app.screen {
        Screen::Calls => {
            let live = &mut app.live;
            let id = live.selected.as_ref()?;
            let t = &live.calls.get(id)?.transcript;
            Some((t, &mut live.view, layout::calls(body).transcript))
        }
        Screen::History => {
            let d = app.history.detail.as_mut()?;
            Some((
                &d.transcript,
                &mut d.view,
                layout::history_detail(body).transcript,
            ))
        }
        _ => None,
    }
}

pub(super) fn scroll(app: &mut App, delta: isize) {
    let Some((t, view, pane)) = focused_transcript(app) else {
        return;
    };
    let inner = layout::inner(pane);
    let mut cache = t.cache.borrow_mut();
    cache.ensure(&t.entries, inner.width as usize, view.timestamps);
    let total = cache.rows.len();
    let h = inner.height as usize;
    let max_top = total.saturating_sub(h);
    let cur = view.visible_top(total, h);
    let next = (cur as isize + delta).clamp(0, max_top as isize) as usize;
    view.top = next;
    if delta < 0 && max_top > 0 {
        view.follow = false;
    } else if delta > 0 && next >= max_top {
        view.follow = true;
    }
}

pub(super) fn jump_match(app: &mut App, forward: bool) {
    let mut note = None;
    if let Some((t, view, pane)) = focused_transcript(app) {
        if view.search.is_empty() {
            note = Some("no search yet".to_string());
        } else {
            let inner = layout::inner(pane);
            let mut cache = t.cache.borrow_mut();
            cache.ensure(&t.entries, inner.width as usize, view.timestamps);
            let matches: Vec<usize> = cache
                .rows
                .iter()
                .enumerate()
                .filter(|(_, r)| !find_all(&r.text, &view.search).is_empty())
                .map(|(i, _)| i)
                .collect();
            if matches.is_empty() {
                note = Some(format!("no match for \"{}\"", view.search));
            } else {
                let h = inner.height as usize;
                let max_top = cache.rows.len().saturating_sub(h);
                let pick = match view.current_match {
                    Some(cur) if forward => matches.iter().copied().find(|&m| m > cur),
                    Some(cur) => matches.iter().rev().copied().find(|&m| m < cur),
                    None => {
                        let top = view.visible_top(cache.rows.len(), h);
                        matches.iter().copied().find(|&m| m >= top)
                    }
                };
                let wrapped = pick.is_none();
                let row = pick.unwrap_or(if forward {
                    matches[0]
                } else {
                    matches[matches.len() - 1]
                });
                view.current_match = Some(row);
                view.follow = false;
                view.top = row.saturating_sub(h / 3).min(max_top);
                let n = matches.iter().position(|&m| m == row).unwrap_or(0) + 1;
                note = Some(format!(
                    "match {n} of {}{}",
                    matches.len(),
                    if wrapped && matches.len() > 1 {
                        " (wrapped)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    if let Some(n) = note {
        info(app, &n);
    }
}
