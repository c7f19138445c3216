//! Semantic colour slots. Built-in themes use the 16 named ANSI colours so they work on any
//! terminal and follow the user's palette; `[console.colors]` overrides single slots with a
//! name, an index ("208") or "#rrggbb". `mono` (and NO_COLOR) uses no colour at all: only
//! bold, reverse and dim.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThemeName {
    Dark,
    Light,
    Mono,
}

impl ThemeName {
    pub fn parse(s: &str) -> Option<ThemeName> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => Some(ThemeName::Dark),
            "light" => Some(ThemeName::Light),
            "mono" | "none" | "no-color" => Some(ThemeName::Mono),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub mono: bool,
    pub text: Color,
    pub dim: Color,
    pub accent: Color,
    pub border: Color,
    pub title: Color,
    pub selected_bg: Color,
    pub selected_fg: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub state_ai: Color,
    pub state_paused: Color,
    pub state_human: Color,
    pub state_ringing: Color,
    pub speaker_caller: Color,
    pub speaker_ai: Color,
    pub speaker_human: Color,
    pub speaker_system: Color,
    pub search_match: Color,
    pub positive: Color,
    pub negative: Color,
    pub key: Color,
    pub chart: Color,
}

const SLOTS: &[&str] = &[
    "text",
    "dim",
    "accent",
    "border",
    "title",
    "selected_bg",
    "selected_fg",
    "ok",
    "warn",
    "error",
    "state_ai",
    "state_paused",
    "state_human",
    "state_ringing",
    "speaker_caller",
    "speaker_ai",
    "speaker_human",
    "speaker_system",
    "search_match",
    "positive",
    "negative",
    "key",
    "chart",
];

impl Theme {
    pub fn dark() -> Theme {
        Theme {
            mono: false,
            text: Color::Reset,
            dim: Color::DarkGray,
            accent: Color::Cyan,
            border: Color::DarkGray,
            title: Color::LightCyan,
            selected_bg: Color::Blue,
            selected_fg: Color::White,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::LightRed,
            state_ai: Color::Green,
            state_paused: Color::Yellow,
            state_human: Color::Magenta,
            state_ringing: Color::Cyan,
            speaker_caller: Color::LightBlue,
            speaker_ai: Color::Green,
            speaker_human: Color::Magenta,
            speaker_system: Color::DarkGray,
            search_match: Color::Yellow,
            positive: Color::Green,
            negative: Color::LightRed,
            key: Color::Cyan,
            chart: Color::Cyan,
        }
    }

    pub fn light() -> Theme {
        Theme {
            mono: false,
            text: Color::Reset,
            dim: Color::Gray,
            accent: Color::Blue,
            border: Color::Gray,
            title: Color::Blue,
            selected_bg: Color::LightBlue,
            selected_fg: Color::Black,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::Red,
            state_ai: Color::Green,
            state_paused: Color::Yellow,
            state_human: Color::Magenta,
            state_ringing: Color::Blue,
            speaker_caller: Color::Blue,
            speaker_ai: Color::Green,
            speaker_human: Color::Magenta,
            speaker_system: Color::Gray,
            search_match: Color::LightYellow,
            positive: Color::Green,
            negative: Color::Red,
            key: Color::Blue,
            chart: Color::Blue,
        }
    }

    pub fn mono() -> Theme {
        let r = Color::Reset;
        Theme {
            mono: true,
            text: r,
            dim: r,
            accent: r,
            border: r,
            title: r,
            selected_bg: r,
            selected_fg: r,
            ok: r,
            warn: r,
            error: r,
            state_ai: r,
            state_paused: r,
            state_human: r,
            state_ringing: r,
            speaker_caller: r,
            speaker_ai: r,
            speaker_human: r,
            speaker_system: r,
            search_match: r,
            positive: r,
            negative: r,
            key: r,
            chart: r,
        }
    }

    pub fn named(name: ThemeName) -> Theme {
        match name {
            ThemeName::Dark => Theme::dark(),
            ThemeName::Light => Theme::light(),
            ThemeName::Mono => Theme::mono(),
        }
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Color> {
        Some(match name {
            "text" => &mut self.text,
            "dim" => &mut self.dim,
            "accent" => &mut self.accent,
            "border" => &mut self.border,
            "title" => &mut self.title,
            "selected_bg" => &mut self.selected_bg,
            "selected_fg" => &mut self.selected_fg,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "error" => &mut self.error,
            "state_ai" => &mut self.state_ai,
            "state_paused" => &mut self.state_paused,
            "state_human" => &mut self.state_human,
            "state_ringing" => &mut self.state_ringing,
            "speaker_caller" => &mut self.speaker_caller,
            "speaker_ai" => &mut self.speaker_ai,
            "speaker_human" => &mut self.speaker_human,
            "speaker_system" => &mut self.speaker_system,
            "search_match" => &mut self.search_match,
            "positive" => &mut self.positive,
            "negative" => &mut self.negative,
            "key" => &mut self.key,
            "chart" => &mut self.chart,
            _ => return None,
        })
    }

    /// Applies `[console.colors]`; returns warnings for unknown slots or colours.
    /// Ignored in mono (NO_COLOR means no colour).
    pub fn apply_overrides(&mut self, colors: &BTreeMap<String, String>) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.mono {
            return warnings;
        }
        for (slot, value) in colors {
            let parsed = value.trim().parse::<Color>();
            match (self.slot_mut(slot), parsed) {
                (Some(c), Ok(v)) => *c = v,
                (None, _) => warnings.push(format!(
                    "[console.colors]: unknown slot {slot:?} (known: {})",
                    SLOTS.join(", ")
                )),
                (Some(_), Err(_)) => {
                    warnings.push(format!("[console.colors] {slot}: unknown colour {value:?}"))
                }
            }
        }
        warnings
    }

    pub fn fg(&self, c: Color) -> Style {
        if self.mono {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    pub fn base(&self) -> Style {
        self.fg(self.text)
    }

    pub fn dimmed(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            self.fg(self.dim)
        }
    }

    pub fn selected(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
                .bg(self.selected_bg)
                .fg(self.selected_fg)
                .add_modifier(Modifier::BOLD)
        }
    }

    pub fn highlight(&self) -> Style {
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED)
        } else {
            Style::default().bg(self.search_match).fg(Color::Black)
        }
    }

    pub fn key_style(&self) -> Style {
        self.fg(self.key).add_modifier(Modifier::BOLD)
    }

    pub fn title_style(&self) -> Style {
        self.fg(self.title).add_modifier(Modifier::BOLD)
    }

    pub fn border_style(&self) -> Style {
        self.fg(self.border)
    }
}

/// A call state as the tables, the detail panel and the wall show it.
pub fn state_cell(t: &Theme, s: crate::core::model::CallState) -> ratatui::text::Span<'static> {
    let (text, colour) = match s {
        crate::core::model::CallState::InProgress => ("● AI", t.state_ai),
        crate::core::model::CallState::AiPaused => ("‖ PAUSED", t.state_paused),
        crate::core::model::CallState::TakenOver => ("◆ HUMAN", t.state_human),
        crate::core::model::CallState::Ringing => ("◌ RING", t.state_ringing),
        crate::core::model::CallState::Queued => ("· QUEUED", t.dim),
        crate::core::model::CallState::Ended => ("✓ ENDED", t.dim),
    };
    let style = t.fg(colour);
    let style = if matches!(
        s,
        crate::core::model::CallState::AiPaused | crate::core::model::CallState::TakenOver
    ) {
        style.add_modifier(ratatui::style::Modifier::BOLD)
    } else {
        style
    };
    ratatui::text::Span::styled(text, style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_set_slots_and_report_mistakes() {
        let mut t = Theme::dark();
        let mut c = BTreeMap::new();
        c.insert("error".to_string(), "#ff0000".to_string());
        c.insert("ok".to_string(), "208".to_string());
        c.insert("nope".to_string(), "red".to_string());
        c.insert("warn".to_string(), "blurple".to_string());
        let w = t.apply_overrides(&c);
        assert_eq!(t.error, Color::Rgb(255, 0, 0));
        assert_eq!(t.ok, Color::Indexed(208));
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn builtin_themes_use_only_named_ansi_colours() {
        for t in [Theme::dark(), Theme::light()] {
            let dbg = format!("{t:?}");
            assert!(!dbg.contains("Rgb") && !dbg.contains("Indexed"), "{dbg}");
        }
    }
}
