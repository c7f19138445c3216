//! Key bindings: every key maps to one [`Action`], once, from the config. Help and the footer
//! are generated from the live keymap so they never lie.

mod binding;

use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyEvent, KeyEventKind};

pub use binding::KeyBinding;

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
    ScreenAlerts,
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
    /// Put the caller through to a named destination or a typed number.
    Transfer,
    /// Give a call taken over back to the AI.
    HandBack,
    Summarize,
    /// Put the selected call's customer on the do-not-call list (they asked not to be
    /// called again).
    AddToDnc,
    DialNow,
    CancelQueued,
    /// A new queue item (a form: number, name, campaign, when).
    AddToQueue,
    ScrollUp,
    ScrollDown,
    Follow,
    Search,
    NextMatch,
    PrevMatch,
    Timestamps,
    Details,
    Wall,
    Command,
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
    /// In the order the help screen shows them.
    pub const ALL: [Scope; 5] = [
        Scope::Global,
        Scope::Calls,
        Scope::Transcript,
        Scope::Queue,
        Scope::History,
    ];

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

/// One action, declared once: everything else (the keymap, `[console.keys]` names, help,
/// footer hints) reads this.
#[derive(Debug)]
pub struct ActionSpec {
    pub action: Action,
    /// The name used in `[console.keys]`.
    pub name: &'static str,
    /// Default keys, in the syntax of [`KeyBinding::parse`].
    pub keys: &'static [&'static str],
    /// Label for the help screen (and messages such as "cannot take over").
    pub label: &'static str,
    /// Shorter label for the footer.
    pub hint: &'static str,
    pub scope: Scope,
}

const fn spec(
    action: Action,
    name: &'static str,
    keys: &'static [&'static str],
    label: &'static str,
    hint: &'static str,
    scope: Scope,
) -> ActionSpec {
    ActionSpec {
        action,
        name,
        keys,
        label,
        hint,
        scope,
    }
}

/// The table of actions, in the order of the enum (checked by a test) and of the help screen.
#[rustfmt::skip]
pub const ACTIONS: &[ActionSpec] = {
    use Scope::{Calls as C, Global as G, History as H, Queue as Q, Transcript as T};
    &[
    spec(Action::Quit, "quit", &["q", "ctrl+c"], "quit", "quit", G),
    spec(Action::Help, "help", &["?"], "help", "help", G),
    spec(Action::Up, "up", &["k", "up"], "up", "up", G),
    spec(Action::Down, "down", &["j", "down"], "down", "down", G),
    spec(Action::PageUp, "page_up", &["pageup", "ctrl+b"], "page up", "page up", G),
    spec(Action::PageDown, "page_down", &["pagedown"], "page down", "page down", G),
    spec(Action::Top, "top", &["g", "home"], "first", "first", G),
    spec(Action::Bottom, "bottom", &["G", "end"], "last", "last", G),
    spec(Action::ScreenCalls, "screen_calls", &["1"], "calls", "calls", G),
    spec(Action::ScreenQueue, "screen_queue", &["2"], "queue", "queue", G),
    spec(Action::ScreenAnalytics, "screen_analytics", &["3"], "analytics", "analytics", G),
    spec(Action::ScreenHistory, "screen_history", &["4"], "history", "history", G),
    spec(Action::ScreenAlerts, "screen_alerts", &["5"], "alerts", "alerts", G),
    spec(Action::NextScreen, "next_screen", &["tab"], "next screen", "next screen", G),
    spec(Action::PrevScreen, "prev_screen", &["shift+tab"], "previous screen", "previous screen", G),
    spec(Action::Filter, "filter", &["/"], "filter", "filter", C),
    spec(Action::Sort, "sort", &["o"], "sort column", "sort column", C),
    spec(Action::ReverseSort, "reverse_sort", &["O"], "reverse sort", "reverse sort", C),
    spec(Action::Open, "open", &["enter"], "open", "open", H),
    spec(Action::Back, "back", &["esc"], "back/close", "back", G),
    spec(Action::TakeOver, "take_over", &["t"], "take over", "take over", C),
    spec(Action::PauseAi, "pause_ai", &["p"], "pause AI", "pause", C),
    spec(Action::ResumeAi, "resume_ai", &["r"], "resume AI", "resume", C),
    spec(Action::Say, "say", &["s"], "say", "say", C),
    spec(Action::Instruct, "instruct", &["i"], "instruct AI", "instruct", C),
    spec(Action::EndCall, "end_call", &["e"], "end call", "end", C),
    spec(Action::Transfer, "transfer", &["X"], "transfer call", "transfer", C),
    spec(Action::HandBack, "hand_back", &["b"], "hand back to AI", "hand back", C),
    spec(Action::Summarize, "summarize", &["S"], "summarize", "summarize", C),
    spec(Action::AddToDnc, "add_to_dnc", &["D"], "caller to DNC", "to DNC", C),
    spec(Action::DialNow, "dial_now", &["d"], "dial now", "dial now", Q),
    spec(Action::CancelQueued, "cancel_queued", &["x"], "cancel", "cancel", Q),
    spec(Action::AddToQueue, "add_to_queue", &["a"], "add to queue", "add", Q),
    spec(Action::ScrollUp, "scroll_up", &["K", "shift+up", "ctrl+u"], "scroll transcript up", "scroll up", T),
    spec(Action::ScrollDown, "scroll_down", &["J", "shift+down", "ctrl+d"], "scroll transcript down", "scroll down", T),
    spec(Action::Follow, "follow", &["f"], "follow", "follow", T),
    spec(Action::Search, "search", &["ctrl+f"], "search transcript", "search", T),
    spec(Action::NextMatch, "next_match", &["n"], "next match", "next match", T),
    spec(Action::PrevMatch, "prev_match", &["N"], "previous match", "previous match", T),
    spec(Action::Timestamps, "timestamps", &["T"], "timestamps", "timestamps", T),
    spec(Action::Details, "details", &["v"], "call details", "details", C),
    spec(Action::Wall, "wall", &["w"], "wall of 2/4/6 transcripts", "wall", C),
    spec(Action::Command, "command", &[":"], "command line", "command", G),
    spec(Action::MaskNumbers, "mask_numbers", &["m"], "mask numbers", "mask numbers", G),
    ]
};

impl Action {
    /// Every action, in table order.
    pub fn all() -> impl Iterator<Item = Action> {
        ACTIONS.iter().map(|s| s.action)
    }

    /// This action's row of [`ACTIONS`].
    pub fn spec(self) -> &'static ActionSpec {
        // The table is in enum order (a test checks it), so the discriminant is the index.
        &ACTIONS[self as usize]
    }

    /// The name used in `[console.keys]`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn from_name(name: &str) -> Option<Action> {
        ACTIONS.iter().find(|s| s.name == name).map(|s| s.action)
    }

    /// Label for help and messages.
    pub fn label(self) -> &'static str {
        self.spec().label
    }

    /// Shorter label for the footer.
    pub fn hint(self) -> &'static str {
        self.spec().hint
    }

    pub fn scope(self) -> Scope {
        self.spec().scope
    }

    fn defaults(self) -> &'static [&'static str] {
        self.spec().keys
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
        for action in Action::all() {
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
            .chain(Action::all().filter(|a| !overridden.contains(a)))
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
    use crossterm::event::{KeyCode, KeyModifiers};

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
    fn the_table_is_in_enum_order_with_unique_names() {
        assert_eq!(
            ACTIONS.len(),
            Action::MaskNumbers as usize + 1,
            "one row per action"
        );
        for (i, s) in ACTIONS.iter().enumerate() {
            assert_eq!(s.action as usize, i, "{:?} is out of place", s.action);
            assert_eq!(Action::from_name(s.name), Some(s.action), "{}", s.name);
        }
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
