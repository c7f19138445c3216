//! One key with its modifiers: parsed from the config, matched against terminal events,
//! shown in help and hints.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key with modifiers, normalised so that `G` and `shift+g` are the same binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyBinding {
    pub fn new(code: KeyCode, mods: KeyModifiers) -> Self {
        let mut mods = mods & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let mut code = code;
        match code {
            KeyCode::Char(c) => {
                // Terminals report `G` as Char('G') + SHIFT; ctrl combinations may come
                // upper-case. Shift is carried by the character itself.
                if mods.contains(KeyModifiers::SHIFT) && c.is_ascii_alphabetic() {
                    code = KeyCode::Char(c.to_ascii_uppercase());
                }
                if mods.contains(KeyModifiers::CONTROL) {
                    code = KeyCode::Char(c.to_ascii_lowercase());
                }
                mods.remove(KeyModifiers::SHIFT);
            }
            KeyCode::BackTab => {
                mods.insert(KeyModifiers::SHIFT);
            }
            _ => {}
        }
        if code == KeyCode::BackTab {
            code = KeyCode::Tab;
        }
        KeyBinding { code, mods }
    }

    pub fn from_event(ev: &KeyEvent) -> Self {
        KeyBinding::new(ev.code, ev.modifiers)
    }

    /// Parses `"t"`, `"ctrl+p"`, `"shift+tab"`, `"G"`, `"enter"`, `"f5"`, `"space"`.
    pub fn parse(s: &str) -> Result<KeyBinding, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty key".into());
        }
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        // "+" alone (or "ctrl++") is the plus key.
        loop {
            let lower = rest.to_ascii_lowercase();
            let (prefix, m) = if lower.starts_with("ctrl+") && rest.len() > 5 {
                ("ctrl+", KeyModifiers::CONTROL)
            } else if lower.starts_with("alt+") && rest.len() > 4 {
                ("alt+", KeyModifiers::ALT)
            } else if lower.starts_with("shift+") && rest.len() > 6 {
                ("shift+", KeyModifiers::SHIFT)
            } else {
                break;
            };
            mods |= m;
            rest = &rest[prefix.len()..];
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" | "pgdown" => KeyCode::PageDown,
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok())
                        {
                            if (1..=24).contains(&n) {
                                KeyCode::F(n)
                            } else {
                                return Err(format!("unknown key {s:?}"));
                            }
                        } else {
                            return Err(format!("unknown key {s:?}"));
                        }
                    }
                }
            }
        };
        Ok(KeyBinding::new(code, mods))
    }
}

impl fmt::Display for KeyBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl+")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt+")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::Insert => f.write_str("ins"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}
