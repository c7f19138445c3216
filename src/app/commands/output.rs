//! How headless commands print: width-aware tables for people (colour only on a terminal
//! without NO_COLOR), JSON for programs. Every string from a call is cleaned first.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Local, Utc};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::core::model::{Call, CallState, Direction};

/// Remote text made safe for a terminal (no escapes, no bidi tricks, one line).
pub fn clean(text: &str) -> String {
    crate::core::sanitize::clean(text).into_owned()
}

/// Cleans every string in a JSON value, so `--json` output is as safe as the tables.
pub fn clean_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => crate::core::sanitize::clean_in_place(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(clean_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(clean_json),
        _ => {}
    }
}

pub struct Out {
    /// Standard output is a terminal.
    pub tty: bool,
    pub color: bool,
    /// Terminal columns; `None` (unbounded) when piped.
    pub width: Option<usize>,
}

impl Out {
    pub fn detect() -> Self {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = if tty {
            crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
                .filter(|w| *w > 0)
        } else {
            None
        };
        Out {
            tty,
            color: tty && !no_color,
            width,
        }
    }

    /// Wraps `text` in an SGR colour when colour is on.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        if self.color && !sgr.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn state(&self, state: CallState) -> String {
        self.paint(state.as_str(), state_sgr(state))
    }
}

/// States in the console's colours: attention for a human on the call, dim once over.
pub fn state_sgr(state: CallState) -> &'static str {
    match state {
        CallState::TakenOver => "35",
        CallState::AiPaused => "33",
        CallState::InProgress => "32",
        CallState::Ringing | CallState::Queued => "36",
        CallState::Ended => "2",
    }
}

/// Prints one cleaned JSON value on one line.
pub fn json_line<T: serde::Serialize>(value: &T) -> Result<(), super::CommandError> {
    let mut v = serde_json::to_value(value)
        .map_err(|e| super::CommandError::new(super::Exit::Failure, e.to_string()))?;
    clean_json(&mut v);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{v}")?;
    stdout.flush()?;
    Ok(())
}

/// A table whose `flex` column gives way when the terminal is narrow.
pub struct Table {
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
    pub flex: usize,
}

/// A cell: its plain text (measured) and how to paint it.
pub struct Cell {
    pub text: String,
    pub sgr: &'static str,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell { text, sgr: "" }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell {
            text: text.to_string(),
            sgr: "",
        }
    }
}

const GAP: usize = 2;

impl Table {
    pub fn render(&self, out: &Out) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.text.width());
            }
        }
        if let Some(max) = out.width {
            let total: usize = widths.iter().sum::<usize>() + GAP * n.saturating_sub(1);
            if total > max && self.flex < n {
                let others = total - widths[self.flex];
                widths[self.flex] = max.saturating_sub(others).max(8);
            }
        }
        let mut text = String::new();
        let header: Vec<Cell> = self.headers.iter().map(|h| Cell::from(*h)).collect();
        self.line(&mut text, &header, &widths, out, Some("1"));
        for row in &self.rows {
            self.line(&mut text, row, &widths, out, None);
        }
        text
    }

    fn line(
        &self,
        text: &mut String,
        row: &[Cell],
        widths: &[usize],
        out: &Out,
        sgr: Option<&str>,
    ) {
        let last = widths.len().saturating_sub(1);
        let mut line = String::new();
        for (i, w) in widths.iter().enumerate() {
            let cell = row.get(i);
            let plain = cell.map_or(String::new(), |c| fit(&c.text, *w));
            let pad = w.saturating_sub(plain.width());
            let painted = out.paint(&plain, sgr.unwrap_or(cell.map_or("", |c| c.sgr)));
            line.push_str(&painted);
            if i < last {
                line.push_str(&" ".repeat(pad + GAP));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
}

/// `text` cut to `width` columns, with an ellipsis when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The first 8 characters of an id: what people type back as a prefix.
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

/// The number on the far end: the caller for inbound calls, the callee for outbound.
pub fn customer(call: &Call) -> &str {
    match call.direction {
        Direction::Inbound => &call.from,
        Direction::Outbound => &call.to,
    }
}

pub fn local_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).format("%H:%M:%S").to_string()
}

pub fn local_datetime(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

pub fn duration(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let s = s.round() as u64;
            format!("{}:{:02}", s / 60, s % 60)
        }
        _ => "-".into(),
    }
}

pub fn or_dash(text: Option<&str>) -> String {
    text.filter(|t| !t.is_empty()).map_or("-".into(), clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(width: Option<usize>) -> Out {
        Out {
            tty: false,
            color: false,
            width,
        }
    }

    #[test]
    fn the_flex_column_gives_way_on_a_narrow_terminal() {
        let table = Table {
            headers: vec!["ID", "NAME", "STATE"],
            rows: vec![vec![
                "abc".into(),
                "A very long caller name".into(),
                "ended".into(),
            ]],
            flex: 1,
        };
        let wide = table.render(&plain(None));
        assert!(wide.contains("A very long caller name"), "{wide}");
        let narrow = table.render(&plain(Some(24)));
        for line in narrow.lines() {
            assert!(line.width() <= 24, "{line:?} is wider than 24");
        }
        assert!(narrow.contains('…'), "{narrow}");
        assert!(!narrow.contains('\x1b'));
    }

    #[test]
    fn json_strings_are_cleaned() {
        let mut v = serde_json::json!({"a": ["x\u{1b}]52;c;AA\u{7}y"], "b": "\u{202e}z"});
        clean_json(&mut v);
        assert_eq!(v, serde_json::json!({"a": ["x]52;c;AAy"], "b": "z"}));
    }
}
