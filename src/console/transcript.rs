//! A call's transcript with its wrapped-line cache. Wrapping happens once per (entry, width):
//! new entries are wrapped incrementally, a revised entry re-wraps only from itself, and a
//! frame hands the widget only the visible rows.

use std::cell::RefCell;

use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthChar;

use crate::core::model::{Speaker, TranscriptEntry};

/// Width of the "Caller │ " column.
pub const LABEL_WIDTH: usize = 9;
/// Width of the "12:03:04 " column.
pub const TIME_WIDTH: usize = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub entry: u32,
    /// First row of its entry: carries the time and speaker columns.
    pub first: bool,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct WrapCache {
    width: usize,
    timestamps: bool,
    pub rows: Vec<Row>,
    /// Index into `rows` of the first row of each wrapped entry.
    starts: Vec<usize>,
}

impl WrapCache {
    /// Drops the rows of entries at `from` and after (they are re-wrapped on next use).
    pub fn invalidate_from(&mut self, from: usize) {
        if from < self.starts.len() {
            self.rows.truncate(self.starts[from]);
            self.starts.truncate(from);
        }
    }

    pub fn clear(&mut self) {
        self.rows.clear();
        self.starts.clear();
    }

    /// Makes the cache cover `entries` at `width` columns (the pane's inner width).
    pub fn ensure(&mut self, entries: &[TranscriptEntry], width: usize, timestamps: bool) {
        if width != self.width || timestamps != self.timestamps {
            self.clear();
            self.width = width;
            self.timestamps = timestamps;
        }
        if self.starts.len() > entries.len() {
            self.invalidate_from(entries.len());
        }
        let body = body_width(width, timestamps);
        for (i, e) in entries.iter().enumerate().skip(self.starts.len()) {
            self.starts.push(self.rows.len());
            let mut first = true;
            for piece in wrap(&e.text, body) {
                self.rows.push(Row {
                    entry: i as u32,
                    first,
                    text: piece,
                });
                first = false;
            }
        }
    }
}

pub fn body_width(width: usize, timestamps: bool) -> usize {
    let cols = LABEL_WIDTH + if timestamps { TIME_WIDTH } else { 0 };
    width.saturating_sub(cols).max(8)
}

/// The transcript of one call plus its cache.
#[derive(Debug, Default)]
pub struct Transcript {
    pub entries: Vec<TranscriptEntry>,
    pub cache: RefCell<WrapCache>,
}

impl Transcript {
    pub fn new(mut entries: Vec<TranscriptEntry>) -> Self {
        entries.sort_by_key(|e| e.position);
        entries.dedup_by_key(|e| e.position);
        Transcript {
            entries,
            cache: RefCell::default(),
        }
    }

    /// Applies an appended or revised entry (both are idempotent by position).
    pub fn upsert(&mut self, entry: TranscriptEntry) {
        let pos = entry.position as usize;
        match self.entries.last() {
            None if pos == 0 => self.entries.push(entry),
            Some(last) if entry.position == last.position + 1 => self.entries.push(entry),
            _ => {
                match self
                    .entries
                    .binary_search_by_key(&entry.position, |e| e.position)
                {
                    Ok(i) => {
                        if self.entries[i] == entry {
                            return;
                        }
                        self.entries[i] = entry;
                        self.cache.borrow_mut().invalidate_from(i);
                    }
                    Err(i) => {
                        // Out of order (should not happen on a consistent stream): keep order.
                        self.entries.insert(i, entry);
                        self.cache.borrow_mut().invalidate_from(i);
                    }
                }
            }
        }
    }
}

/// Word wrap to `width` display columns; words longer than a line are broken.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut line_w = 0usize;
    for word in text.split(' ') {
        let word_w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        let sep = usize::from(line_w > 0);
        if line_w + sep + word_w <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            line_w += sep + word_w;
            continue;
        }
        if word_w <= width {
            out.push(std::mem::take(&mut line));
            line.push_str(word);
            line_w = word_w;
            continue;
        }
        // A word longer than the line: fill the current line, then hard-break.
        if line_w > 0 && line_w + 1 < width {
            line.push(' ');
            line_w += 1;
        } else if line_w > 0 {
            out.push(std::mem::take(&mut line));
            line_w = 0;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if line_w + cw > width {
                out.push(std::mem::take(&mut line));
                line_w = 0;
            }
            line.push(c);
            line_w += cw;
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

pub fn speaker_label(s: Speaker) -> &'static str {
    match s {
        Speaker::Caller => "Caller",
        Speaker::Ai => "AI",
        Speaker::Human => "Human",
        Speaker::System => "System",
    }
}

pub fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// Byte ranges of ASCII-case-insensitive matches of `needle` in `hay`.
pub fn find_all(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    let n = needle.as_bytes();
    let h = hay.as_bytes();
    let mut out = Vec::new();
    if n.is_empty() || n.len() > h.len() {
        return out;
    }
    let mut i = 0;
    while i + n.len() <= h.len() {
        if hay.is_char_boundary(i)
            && hay.is_char_boundary(i + n.len())
            && h[i..i + n.len()].eq_ignore_ascii_case(n)
        {
            out.push((i, i + n.len()));
            i += n.len();
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pos: u32, text: &str, fin: bool) -> TranscriptEntry {
        TranscriptEntry {
            id: format!("u{pos}"),
            call_id: "c".into(),
            position: pos,
            speaker: Speaker::Caller,
            text: text.into(),
            is_final: fin,
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn wraps_words_and_breaks_long_ones() {
        assert_eq!(wrap("hello there world", 11), ["hello there", "world"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 5), [""]);
        assert_eq!(wrap("a 你好你好", 5), ["a 你", "好你", "好"]);
        for line in wrap(&"x".repeat(10_000), 37) {
            assert!(line.len() <= 37);
        }
    }

    #[test]
    fn revisions_rewrap_only_from_the_revised_entry() {
        let mut t = Transcript::new(vec![
            entry(0, "one two three", true),
            entry(1, "four", false),
        ]);
        t.cache
            .borrow_mut()
            .ensure(&t.entries, LABEL_WIDTH + 8, false);
        assert_eq!(t.cache.borrow().rows.len(), 3);
        t.upsert(entry(1, "four five six seven", true));
        t.upsert(entry(2, "eight", true));
        t.upsert(entry(2, "eight", true)); // duplicate: no change
        assert_eq!(t.entries.len(), 3);
        t.cache
            .borrow_mut()
            .ensure(&t.entries, LABEL_WIDTH + 8, false);
        let rows: Vec<String> = t
            .cache
            .borrow()
            .rows
            .iter()
            .map(|r| r.text.clone())
            .collect();
        assert_eq!(
            rows,
            ["one two", "three", "four", "five six", "seven", "eight"]
        );
    }

    #[test]
    fn search_is_case_insensitive_and_utf8_safe() {
        assert_eq!(find_all("Refund the REFUND", "refund"), [(0, 6), (11, 17)]);
        assert!(find_all("Grüße", "ü").len() <= 1);
    }
}
