//! Key bindings: every key maps to one [`Action`], once, from the config. Help and the footer
//! are generated from the live keymap so they never lie.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Everything a key can do outside text inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ScreenCalls,
    ScreenQueue,
    ScreenAnalytics,
    ScreenHistory,
    NextScreen,
    PrevScreen,
    Filter,
    Sort,
    ReverseSort,
    Open,
    Back,
    TakeOver,
    PauseAi,
    ResumeAi,
    Say,
    Instruct,
    EndCall,
    Summarize,
    DialNow,
    CancelQueued,
    ScrollUp,
    ScrollDown,
    Follow,
    Search,
    NextMatch,
    PrevMatch,
    Timestamps,
    MaskNumbers,
}

/// Where an action applies, for help grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Global,
    Calls,
    Transcript,
    Queue,
    History,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Global",
            Scope::Calls => "Calls",
            Scope::Transcript => "Transcript",
            Scope::Queue => "Queue",
            Scope::History => "History",
        }
    }
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::Quit,
        Action::Help,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::ScreenCalls,
        Action::ScreenQueue,
        Action::ScreenAnalytics,
        Action::ScreenHistory,
        Action::NextScreen,
        Action::PrevScreen,
        Action::Filter,
        Action::Sort,
        Action::ReverseSort,
        Action::Open,
        Action::Back,
        Action::TakeOver,
        Action::PauseAi,
        Action::ResumeAi,
        Action::Say,
        Action::Instruct,
        Action::EndCall,
        Action::Summarize,
        Action::DialNow,
        Action::CancelQueued,
        Action::ScrollUp,
        Action::ScrollDown,
        Action::Follow,
        Action::Search,
        Action::NextMatch,
        Action::PrevMatch,
        Action::Timestamps,
        Action::MaskNumbers,
    ];

    /// The name used in `[console.keys]`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::ScreenCalls => "screen_calls",
            Action::ScreenQueue => "screen_queue",
            Action::ScreenAnalytics => "screen_analytics",
            Action::ScreenHistory => "screen_history",
            Action::NextScreen => "next_screen",
            Action::PrevScreen => "prev_screen",
            Action::Filter => "filter",
            Action::Sort => "sort",
            Action::ReverseSort => "reverse_sort",
            Action::Open => "open",
            Action::Back => "back",
            Action::TakeOver => "take_over",
            Action::PauseAi => "pause_ai",
            Action::ResumeAi => "resume_ai",
            Action::Say => "say",
            Action::Instruct => "instruct",
            Action::EndCall => "end_call",
            Action::Summarize => "summarize",
            Action::DialNow => "dial_now",
            Action::CancelQueued => "cancel_queued",
            Action::ScrollUp => "scroll_up",
            Action::ScrollDown => "scroll_down",
            Action::Follow => "follow",
            Action::Search => "search",
            Action::NextMatch => "next_match",
            Action::PrevMatch => "prev_match",
            Action::Timestamps => "timestamps",
            Action::MaskNumbers => "mask_numbers",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Short label for the footer and help.
    pub fn label(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first",
            Action::Bottom => "last",
            Action::ScreenCalls => "calls",
            Action::ScreenQueue => "queue",
            Action::ScreenAnalytics => "analytics",
            Action::ScreenHistory => "history",
            Action::NextScreen => "next screen",
            Action::PrevScreen => "previous screen",
            Action::Filter => "filter",
            Action::Sort => "sort column",
            Action::ReverseSort => "reverse sort",
            Action::Open => "open",
            Action::Back => "back/close",
            Action::TakeOver => "take over",
            Action::PauseAi => "pause AI",
            Action::ResumeAi => "resume AI",
            Action::Say => "say",
            Action::Instruct => "instruct AI",
            Action::EndCall => "end call",
            Action::Summarize => "summarize",
            Action::DialNow => "dial now",
            Action::CancelQueued => "cancel",
            Action::ScrollUp => "scroll transcript up",
            Action::ScrollDown => "scroll transcript down",
            Action::Follow => "follow",
            Action::Search => "search transcript",
            Action::NextMatch => "next match",
            Action::PrevMatch => "previous match",
            Action::Timestamps => "timestamps",
            Action::MaskNumbers => "mask numbers",
        }
    }

    /// Shorter label for the footer.
    pub fn hint(self) -> &'static str {
        match self {
            Action::PauseAi => "pause",
            Action::ResumeAi => "resume",
            Action::Instruct => "instruct",
            Action::EndCall => "end",
            Action::Search => "search",
            Action::ScrollUp => "scroll up",
            Action::ScrollDown => "scroll down",
            Action::Back => "back",
            other => other.label(),
        }
    }

    pub fn scope(self) -> Scope {
        use Action::*;
        match self {
            TakeOver | PauseAi | ResumeAi | Say | Instruct | EndCall | Summarize | Filter
            | Sort | ReverseSort => Scope::Calls,
            ScrollUp | ScrollDown | Follow | Search | NextMatch | PrevMatch | Timestamps => {
                Scope::Transcript
            }
            DialNow | CancelQueued => Scope::Queue,
            Open => Scope::History,
            _ => Scope::Global,
        }
    }

    fn defaults(self) -> &'static [&'static str] {
        use Action::*;
        match self {
            Quit => &["q", "ctrl+c"],
            Help => &["?"],
            Up => &["k", "up"],
            Down => &["j", "down"],
            PageUp => &["pageup", "ctrl+b"],
            PageDown => &["pagedown"],
            Top => &["g", "home"],
            Bottom => &["G", "end"],
            ScreenCalls => &["1"],
            ScreenQueue => &["2"],
            ScreenAnalytics => &["3"],
            ScreenHistory => &["4"],
            NextScreen => &["tab"],
            PrevScreen => &["shift+tab"],
            Filter => &["/"],
            Sort => &["o"],
            ReverseSort => &["O"],
            Open => &["enter"],
            Back => &["esc"],
            TakeOver => &["t"],
            PauseAi => &["p"],
            ResumeAi => &["r"],
            Say => &["s"],
            Instruct => &["i"],
            EndCall => &["e"],
            Summarize => &["S"],
            DialNow => &["d"],
            CancelQueued => &["x"],
            ScrollUp => &["K", "shift+up", "ctrl+u"],
            ScrollDown => &["J", "shift+down", "ctrl+d"],
            Follow => &["f"],
            Search => &["ctrl+f"],
            NextMatch => &["n"],
            PrevMatch => &["N"],
            Timestamps => &["T"],
            MaskNumbers => &["m"],
        }
    }
}

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

/// Config value of one action: a key or a list of keys.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
}

impl KeySpec {
    fn keys(&self) -> Vec<&str> {
        match self {
            KeySpec::One(s) => vec![s.as_str()],
            KeySpec::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: HashMap<KeyBinding, Action>,
    by_action: BTreeMap<Action, Vec<KeyBinding>>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::build(&BTreeMap::new()).0
    }
}

impl Keymap {
    /// Defaults with the config's overrides applied (an action named in the config loses
    /// its default keys). Returns warnings: unknown actions, unparsable keys, duplicates.
    pub fn build(overrides: &BTreeMap<String, KeySpec>) -> (Keymap, Vec<String>) {
        let mut warnings = Vec::new();
        let mut by_action: BTreeMap<Action, Vec<KeyBinding>> = BTreeMap::new();
        for &action in Action::ALL {
            let keys = action
                .defaults()
                .iter()
                .filter_map(|k| KeyBinding::parse(k).ok())
                .collect();
            by_action.insert(action, keys);
        }
        let mut overridden = Vec::new();
        for (name, spec) in overrides {
            let Some(action) = Action::from_name(name) else {
                warnings.push(format!("[console.keys]: unknown action {name:?} ignored"));
                continue;
            };
            let mut keys = Vec::new();
            for k in spec.keys() {
                match KeyBinding::parse(k) {
                    Ok(b) => keys.push(b),
                    Err(e) => warnings.push(format!("[console.keys] {name}: {e}")),
                }
            }
            by_action.insert(action, keys);
            overridden.push(action);
        }
        // Assign keys: overridden actions first so a user's choice wins over a default.
        let mut by_key: HashMap<KeyBinding, Action> = HashMap::new();
        let order: Vec<Action> = overridden
            .iter()
            .copied()
            .chain(
                Action::ALL
                    .iter()
                    .copied()
                    .filter(|a| !overridden.contains(a)),
            )
            .collect();
        for action in order {
            let keys = by_action.get(&action).cloned().unwrap_or_default();
            let mut kept = Vec::new();
            for key in keys {
                match by_key.get(&key) {
                    Some(&other) if other != action => warnings.push(format!(
                        "key {key} is bound to both {} and {}; it does {}",
                        other.name(),
                        action.name(),
                        other.name()
                    )),
                    Some(_) => {}
                    None => {
                        by_key.insert(key, action);
                        kept.push(key);
                    }
                }
            }
            by_action.insert(action, kept);
        }
        (Keymap { by_key, by_action }, warnings)
    }

    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        self.by_key.get(&KeyBinding::from_event(ev)).copied()
    }

    pub fn keys(&self, action: Action) -> &[KeyBinding] {
        self.by_action
            .get(&action)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The first key of an action, for hints ("" when unbound).
    pub fn first(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map(|k| k.to_string())
            .unwrap_or_default()
    }

    /// All keys of an action, e.g. "k/↑".
    pub fn describe(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(
            KeyBinding::parse("ctrl+p").unwrap(),
            KeyBinding::new(KeyCode::Char('p'), KeyModifiers::CONTROL)
        );
        assert_eq!(
            KeyBinding::parse("G").unwrap(),
            KeyBinding::from_event(&key(KeyCode::Char('G'), KeyModifiers::SHIFT))
        );
        assert_eq!(
            KeyBinding::parse("shift+g").unwrap(),
            KeyBinding::parse("G").unwrap()
        );
        assert_eq!(
            KeyBinding::parse("shift+tab").unwrap(),
            KeyBinding::from_event(&key(KeyCode::BackTab, KeyModifiers::SHIFT))
        );
        assert_eq!(KeyBinding::parse("F5").unwrap().code, KeyCode::F(5));
        assert_eq!(KeyBinding::parse("+").unwrap().code, KeyCode::Char('+'));
        assert!(KeyBinding::parse("ctrl+").is_err());
        assert!(KeyBinding::parse("hyper+x").is_err());
        assert!(KeyBinding::parse("").is_err());
        assert_eq!(KeyBinding::parse("ctrl+p").unwrap().to_string(), "ctrl+p");
    }

    #[test]
    fn defaults_have_no_duplicates() {
        let (_, warnings) = Keymap::build(&BTreeMap::new());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn overrides_replace_defaults_and_duplicates_are_reported() {
        let mut o = BTreeMap::new();
        o.insert("take_over".to_string(), KeySpec::One("ctrl+t".into()));
        o.insert(
            "pause_ai".to_string(),
            KeySpec::Many(vec!["P".into(), "r".into()]),
        );
        o.insert("nonsense".to_string(), KeySpec::One("z".into()));
        let (map, warnings) = Keymap::build(&o);
        assert_eq!(
            map.action(&key(KeyCode::Char('t'), KeyModifiers::CONTROL)),
            Some(Action::TakeOver)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('t'), KeyModifiers::NONE)),
            None
        );
        // "r" was resume_ai's default; the user's binding wins and the clash is reported.
        assert_eq!(
            map.action(&key(KeyCode::Char('r'), KeyModifiers::NONE)),
            Some(Action::PauseAi)
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("key r is bound to both pause_ai and resume_ai")),
            "{warnings:?}"
        );
        assert!(warnings.iter().any(|w| w.contains("nonsense")));
        assert_eq!(map.describe(Action::PauseAi), "P/r");
    }
}
