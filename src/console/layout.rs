//! Screen geometry, shared by rendering and `update` (which needs the transcript pane's size
//! to scroll by pages and keep the selection visible).

use ratatui::layout::{Constraint, Direction, Layout, Rect};

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

pub struct Main {
    pub header: Rect,
    pub tabs: Rect,
    pub body: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub fn main(area: Rect) -> Main {
    let [header, tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Main {
        header,
        tabs,
        body,
        status,
        footer,
    }
}

pub fn body(area: Rect) -> Rect {
    main(area).body
}

pub struct Calls {
    pub table: Rect,
    pub transcript: Rect,
}

/// Side by side on wide terminals, stacked on narrow ones.
pub fn calls(body: Rect) -> Calls {
    let (dir, a, b) = if body.width >= 120 {
        (Direction::Horizontal, 58, 42)
    } else {
        (Direction::Vertical, 45, 55)
    };
    let [table, transcript] = Layout::default()
        .direction(dir)
        .constraints([Constraint::Percentage(a), Constraint::Percentage(b)])
        .areas(body);
    Calls { table, transcript }
}

/// The transcript pane and the call detail panel: beside it when wide enough, else under it.
pub fn split_detail(area: Rect) -> (Rect, Rect) {
    let dir = if area.width >= 100 {
        Direction::Horizontal
    } else {
        Direction::Vertical
    };
    let [a, b] = Layout::default()
        .direction(dir)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .areas(area);
    (a, b)
}

/// Inside of a bordered block.
pub fn inner(r: Rect) -> Rect {
    Rect::new(
        r.x.saturating_add(1),
        r.y.saturating_add(1),
        r.width.saturating_sub(2),
        r.height.saturating_sub(2),
    )
}

pub struct Detail {
    pub meta: Rect,
    pub transcript: Rect,
}

pub fn history_detail(body: Rect) -> Detail {
    let (dir, a) = if body.width >= 120 {
        (Direction::Horizontal, 40)
    } else {
        (Direction::Vertical, 45)
    };
    let [meta, transcript] = Layout::default()
        .direction(dir)
        .constraints([Constraint::Percentage(a), Constraint::Percentage(100 - a)])
        .areas(body);
    Detail { meta, transcript }
}

/// A centred box of at most `w` x `h`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
