//! Scenario files: the human-editable TOML format (docs/SCENARIOS.md), parsed into a checked,
//! compiled form the call engine can run without further validation.
//!
//! Every error names the file and, wherever the TOML parser or our own checks know it, the
//! line: someone editing a scenario by hand must be able to find the mistake at once.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::core::model::{Direction, Sentiment, Speaker};

/// A problem in one scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// One line of speech, with its alternatives (one is picked per call).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub speaker: Speaker,
    pub texts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    /// Simulated seconds of AI silence before the `ai_silent` alert.
    pub alert_after: f64,
    /// Step to continue from when a supervisor revives the AI (resume or instruct).
    pub recover: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub label: Option<String>,
    pub line: Option<Line>,
    /// Probability that the line is spoken (the step's other effects always apply).
    pub chance: f64,
    /// Simulated seconds of silence before the line, `(min, max)`.
    pub pause: Option<(f64, f64)>,
    /// Probability the caller cuts this AI line short.
    pub interrupt: Option<f64>,
    pub intent: Option<String>,
    pub sentiment: Option<Sentiment>,
    pub outcome: Option<String>,
    pub summary: Option<String>,
    /// Weighted jumps taken after the step; empty = the next step.
    pub goto: Vec<(usize, f64)>,
    pub end: bool,
    pub stall: Option<Stall>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// File the scenario came from (for messages).
    pub source: String,
    pub title: String,
    pub direction: Direction,
    pub provider: String,
    pub cost_per_minute: f64,
    pub assistant: Option<String>,
    pub campaign: Option<String>,
    pub weight: f64,
    pub dial_weight: f64,
    pub intent: String,
    pub sentiment: Sentiment,
    pub outcome: String,
    pub summary: Option<String>,
    pub answered: bool,
    pub ring_secs: (f64, f64),
    pub interrupt_chance: f64,
    pub vars: BTreeMap<String, Vec<String>>,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// A conversation happens (as opposed to busy / no answer).
    pub fn is_conversation(&self) -> bool {
        self.answered && self.steps.iter().any(|s| s.line.is_some())
    }

    /// The person was not reached: no answer, busy, or voicemail.
    pub fn is_unreached(&self) -> bool {
        !self.answered || self.outcome == crate::core::model::outcome::VOICEMAIL
    }
}

/// The loaded scenarios, in file-name order.
#[derive(Debug, Clone)]
pub struct ScenarioSet {
    pub scenarios: Vec<Arc<Scenario>>,
}

impl ScenarioSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Scenario>> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    fn from_parsed(mut list: Vec<Scenario>) -> Result<ScenarioSet, ScenarioError> {
        list.sort_by(|a, b| a.source.cmp(&b.source));
        let mut seen: HashMap<String, String> = HashMap::new();
        for s in &list {
            if let Some(other) = seen.insert(s.name.clone(), s.source.clone()) {
                return Err(ScenarioError {
                    file: s.source.clone(),
                    line: None,
                    message: format!("scenario name '{}' is also used by {}", s.name, other),
                });
            }
        }
        if list.is_empty() {
            return Err(ScenarioError {
                file: "(scenarios)".into(),
                line: None,
                message: "no scenarios found".into(),
            });
        }
        if !list.iter().any(|s| s.weight > 0.0) {
            return Err(ScenarioError {
                file: "(scenarios)".into(),
                line: None,
                message: "every scenario has weight 0: the call floor would stay empty".into(),
            });
        }
        Ok(ScenarioSet {
            scenarios: list.into_iter().map(Arc::new).collect(),
        })
    }
}

/// The scenarios compiled into the binary (assets/scenarios), so an installed binary works
/// anywhere.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "after_hours.toml",
        include_str!("../../../assets/scenarios/after_hours.toml"),
    ),
    (
        "ai_never_discloses.toml",
        include_str!("../../../assets/scenarios/ai_never_discloses.toml"),
    ),
    (
        "ai_silent.toml",
        include_str!("../../../assets/scenarios/ai_silent.toml"),
    ),
    (
        "frustrated_caller.toml",
        include_str!("../../../assets/scenarios/frustrated_caller.toml"),
    ),
    (
        "inbound_human_request.toml",
        include_str!("../../../assets/scenarios/inbound_human_request.toml"),
    ),
    (
        "inbound_offer.toml",
        include_str!("../../../assets/scenarios/inbound_offer.toml"),
    ),
    (
        "inbound_viewing.toml",
        include_str!("../../../assets/scenarios/inbound_viewing.toml"),
    ),
    (
        "outbound_busy.toml",
        include_str!("../../../assets/scenarios/outbound_busy.toml"),
    ),
    (
        "outbound_discovery.toml",
        include_str!("../../../assets/scenarios/outbound_discovery.toml"),
    ),
    (
        "outbound_no_answer.toml",
        include_str!("../../../assets/scenarios/outbound_no_answer.toml"),
    ),
    (
        "outbound_qualification.toml",
        include_str!("../../../assets/scenarios/outbound_qualification.toml"),
    ),
    (
        "outbound_voicemail.toml",
        include_str!("../../../assets/scenarios/outbound_voicemail.toml"),
    ),
];

pub fn load_builtin() -> Result<ScenarioSet, ScenarioError> {
    let parsed = BUILTIN
        .iter()
        .map(|(file, text)| parse_scenario(file, text))
        .collect::<Result<Vec<_>, _>>()?;
    ScenarioSet::from_parsed(parsed)
}

/// Loads every `*.toml` in `dir`.
pub fn load_dir(dir: &Path) -> Result<ScenarioSet, ScenarioError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
        file: shown.clone(),
        line: None,
        message: format!("cannot read the scenario directory: {e}"),
    })?;
    let mut parsed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ScenarioError {
            file: shown.clone(),
            line: None,
            message: format!("cannot list the scenario directory: {e}"),
        })?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        parsed.push(parse_scenario(&file, &text)?);
    }
    if parsed.is_empty() {
        return Err(ScenarioError {
            file: shown,
            line: None,
            message: "no *.toml scenario files in this directory".into(),
        });
    }
    ScenarioSet::from_parsed(parsed)
}

// ---- raw (serde) form --------------------------------------------------------------------
/// The `{name}` placeholders in a text; `{{` and `}}` are literal braces.
pub fn placeholders(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => i += 2,
            b'}' if bytes.get(i + 1) == Some(&b'}') => i += 2,
            b'{' => {
                let rest = &s[i + 1..];
                let Some(close) = rest.find('}') else {
                    return Err(format!("unclosed '{{' in \"{s}\""));
                };
                let name = &rest[..close];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("bad placeholder {{{name}}} in \"{s}\""));
                }
                out.push(name);
                i += close + 2;
            }
            b'}' => return Err(format!("unmatched '}}' in \"{s}\"")),
            _ => i += 1,
        }
    }
    Ok(out)
}

/// Replaces placeholders with their values (unknown ones are left as they are).
pub fn fill(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if let (true, Some(close)) = (tail.starts_with('{'), tail.find('}')) {
            let name = &tail[1..close];
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&tail[..=close]),
            }
            rest = &tail[close + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse_scenario, BUILTIN_VARS};
