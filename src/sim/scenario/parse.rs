//! Reading a scenario file: the TOML shape, checked step by step with line numbers.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use toml::Spanned;

use super::*;
use crate::core::model::{Direction, Sentiment, Speaker};

enum Texts {
    One(String),
    Many(Vec<String>),
}

// By hand rather than `untagged`, for a message that says what is expected.
impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings (alternatives)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Texts, E> {
                Ok(Texts::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Texts, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<String>()? {
                    out.push(x);
                }
                Ok(Texts::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGoto {
    to: Spanned<String>,
    #[serde(default = "one")]
    weight: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    label: Option<Spanned<String>>,
    ai: Option<Spanned<Texts>>,
    caller: Option<Spanned<Texts>>,
    system: Option<Spanned<Texts>>,
    chance: Option<Spanned<f64>>,
    pause: Option<Spanned<Vec<f64>>>,
    interrupt: Option<Spanned<f64>>,
    intent: Option<String>,
    sentiment: Option<Sentiment>,
    outcome: Option<String>,
    summary: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    goto: Option<Spanned<Vec<RawGoto>>>,
    #[serde(default)]
    end: bool,
    #[serde(default)]
    stall: bool,
    alert_after: Option<Spanned<f64>>,
    recover: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    title: String,
    direction: Direction,
    provider: String,
    cost_per_minute: Spanned<f64>,
    assistant: Option<String>,
    campaign: Option<String>,
    #[serde(default = "one_spanned")]
    weight: Spanned<f64>,
    #[serde(default)]
    dial_weight: Option<Spanned<f64>>,
    intent: String,
    #[serde(default)]
    sentiment: Sentiment,
    outcome: String,
    summary: Option<Spanned<String>>,
    #[serde(default = "yes")]
    answered: bool,
    ring_secs: Option<Spanned<Vec<f64>>>,
    interrupt_chance: Option<Spanned<f64>>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

fn one() -> f64 {
    1.0
}
fn one_spanned() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
fn yes() -> bool {
    true
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err_at<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        let line = (span.end > 0).then(|| self.line_of(span.start));
        Err(ScenarioError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        })
    }
}

/// Built-in placeholders every scenario may use besides its own `[vars]`.
pub const BUILTIN_VARS: &[&str] = &["assistant", "campaign"];

/// Parses and checks one scenario file. `file` is used in messages and, without a `name`
/// key, its stem becomes the scenario's name.
pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let cx = Ctx { file, text };
    let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError {
        file: file.to_string(),
        line: e.span().map(|s| cx.line_of(s.start)),
        message: e.message().trim().to_string(),
    })?;

    let name = match &raw.name {
        Some(n) => {
            let v = n.get_ref().trim();
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return cx.err_at(
                    n.span(),
                    "name must be non-empty letters, digits, '_' or '-'",
                );
            }
            v.to_string()
        }
        None => Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario")
            .to_string(),
    };

    let non_negative = |v: &Spanned<f64>, what: &str| -> Result<f64, ScenarioError> {
        let x = *v.get_ref();
        if !x.is_finite() || x < 0.0 {
            return cx.err_at(v.span(), format!("{what} must be a number >= 0"));
        }
        Ok(x)
    };
    let probability = |v: &Spanned<f64>, what: &str| -> Result<f64, ScenarioError> {
        let x = *v.get_ref();
        if !(0.0..=1.0).contains(&x) {
            return cx.err_at(v.span(), format!("{what} must be between 0 and 1"));
        }
        Ok(x)
    };
    let range = |v: &Spanned<Vec<f64>>, what: &str| -> Result<(f64, f64), ScenarioError> {
        match v.get_ref().as_slice() {
            [a, b] if a.is_finite() && b.is_finite() && *a >= 0.0 && a <= b => Ok((*a, *b)),
            _ => cx.err_at(
                v.span(),
                format!("{what} must be [min, max] seconds with 0 <= min <= max"),
            ),
        }
    };

    let cost_per_minute = non_negative(&raw.cost_per_minute, "cost_per_minute")?;
    let weight = non_negative(&raw.weight, "weight")?;
    let dial_weight = match &raw.dial_weight {
        Some(w) => {
            let x = non_negative(w, "dial_weight")?;
            if x > 0.0 && raw.direction != Direction::Outbound {
                return cx.err_at(w.span(), "dial_weight is only for outbound scenarios");
            }
            x
        }
        None => 0.0,
    };
    let ring_secs = match &raw.ring_secs {
        Some(r) => range(r, "ring_secs")?,
        None => (2.0, 6.0),
    };
    let interrupt_chance = match &raw.interrupt_chance {
        Some(p) => probability(p, "interrupt_chance")?,
        None => 0.1,
    };

    let mut vars = BTreeMap::new();
    for (k, v) in &raw.vars {
        if v.get_ref().is_empty() || v.get_ref().iter().any(|s| s.trim().is_empty()) {
            return cx.err_at(
                v.span(),
                format!("vars.{k} needs at least one non-empty value"),
            );
        }
        if BUILTIN_VARS.contains(&k.as_str()) {
            return cx.err_at(
                v.span(),
                format!("vars.{k} clashes with a built-in placeholder"),
            );
        }
        vars.insert(k.clone(), v.get_ref().clone());
    }
    let check_placeholders = |s: &str, span: std::ops::Range<usize>| -> Result<(), ScenarioError> {
        for p in placeholders(s).map_err(|m| ScenarioError {
            file: file.to_string(),
            line: Some(cx.line_of(span.start)),
            message: m,
        })? {
            if !vars.contains_key(p) && !BUILTIN_VARS.contains(&p) {
                return cx.err_at(
                    span,
                    format!("unknown placeholder {{{p}}}: add it to [vars]"),
                );
            }
        }
        Ok(())
    };
    for (k, v) in &raw.vars {
        for s in v.get_ref() {
            if s.contains('{') {
                return cx.err_at(
                    v.span(),
                    format!("vars.{k}: values cannot contain placeholders"),
                );
            }
        }
    }
    if let Some(s) = &raw.summary {
        check_placeholders(s.get_ref(), s.span())?;
    }

    // Labels first, so jumps can point forwards.
    let mut labels: HashMap<String, usize> = HashMap::new();
    for (i, step) in raw.steps.iter().enumerate() {
        if let Some(l) = &step.get_ref().label {
            if labels.insert(l.get_ref().clone(), i).is_some() {
                return cx.err_at(l.span(), format!("label '{}' is used twice", l.get_ref()));
            }
        }
    }
    let target = |t: &Spanned<String>| -> Result<usize, ScenarioError> {
        match labels.get(t.get_ref()) {
            Some(i) => Ok(*i),
            None => cx.err_at(t.span(), format!("unknown step label '{}'", t.get_ref())),
        }
    };

    let mut steps = Vec::with_capacity(raw.steps.len());
    for spanned in &raw.steps {
        let s = spanned.get_ref();
        let mut line = None;
        for (speaker, texts) in [
            (Speaker::Ai, &s.ai),
            (Speaker::Caller, &s.caller),
            (Speaker::System, &s.system),
        ] {
            let Some(t) = texts else { continue };
            if line.is_some() {
                return cx.err_at(
                    t.span(),
                    "a step has one speaker: use only one of ai, caller, system",
                );
            }
            let list = match t.get_ref() {
                Texts::One(x) => vec![x.clone()],
                Texts::Many(v) => v.clone(),
            };
            if list.is_empty() || list.iter().any(|x| x.trim().is_empty()) {
                return cx.err_at(t.span(), "speech text must not be empty");
            }
            for x in &list {
                check_placeholders(x, t.span())?;
            }
            line = Some(Line {
                speaker,
                texts: list,
            });
        }
        let chance = match &s.chance {
            Some(c) => probability(c, "chance")?,
            None => 1.0,
        };
        let pause = s.pause.as_ref().map(|p| range(p, "pause")).transpose()?;
        let interrupt = match &s.interrupt {
            Some(p) => {
                if line.as_ref().map(|l| l.speaker) != Some(Speaker::Ai) {
                    return cx.err_at(p.span(), "interrupt only applies to ai lines");
                }
                Some(probability(p, "interrupt")?)
            }
            None => None,
        };
        if let Some(sm) = &s.summary {
            check_placeholders(sm.get_ref(), sm.span())?;
        }
        let mut goto = Vec::new();
        if let Some(g) = &s.goto {
            if s.next.is_some() {
                return cx.err_at(g.span(), "use either next or goto, not both");
            }
            if g.get_ref().is_empty() {
                return cx.err_at(g.span(), "goto needs at least one { to = \"label\" }");
            }
            for alt in g.get_ref() {
                if !alt.weight.is_finite() || alt.weight < 0.0 {
                    return cx.err_at(alt.to.span(), "goto weight must be a number >= 0");
                }
                goto.push((target(&alt.to)?, alt.weight));
            }
            if goto.iter().all(|(_, w)| *w == 0.0) {
                return cx.err_at(g.span(), "goto weights are all 0");
            }
        }
        if let Some(n) = &s.next {
            goto.push((target(n)?, 1.0));
        }
        let stall = if s.stall {
            let alert_after = match &s.alert_after {
                Some(a) => non_negative(a, "alert_after")?,
                None => 8.0,
            };
            let recover = s.recover.as_ref().map(&target).transpose()?;
            Some(Stall {
                alert_after,
                recover,
            })
        } else {
            if let Some(a) = &s.alert_after {
                return cx.err_at(a.span(), "alert_after needs stall = true");
            }
            if let Some(r) = &s.recover {
                return cx.err_at(r.span(), "recover needs stall = true");
            }
            None
        };
        let does_something = line.is_some()
            || !goto.is_empty()
            || s.end
            || stall.is_some()
            || s.intent.is_some()
            || s.sentiment.is_some()
            || s.outcome.is_some()
            || s.summary.is_some();
        if !does_something {
            return cx.err_at(
                spanned.span(),
                "this step does nothing (give it ai, caller, system, goto, next, end ...)",
            );
        }
        steps.push(Step {
            label: s.label.as_ref().map(|l| l.get_ref().clone()),
            line,
            chance,
            pause,
            interrupt,
            intent: s.intent.clone(),
            sentiment: s.sentiment,
            outcome: s.outcome.clone(),
            summary: s.summary.as_ref().map(|x| x.get_ref().clone()),
            goto,
            end: s.end,
            stall,
        });
    }

    if raw.answered && !steps.iter().any(|s| s.line.is_some()) {
        return Err(ScenarioError {
            file: file.to_string(),
            line: None,
            message:
                "an answered call needs at least one step with speech (or set answered = false)"
                    .into(),
        });
    }
    if !raw.answered && !steps.is_empty() {
        return cx.err_at(raw.steps[0].span(), "answered = false calls have no steps");
    }

    Ok(Scenario {
        name,
        source: file.to_string(),
        title: raw.title,
        direction: raw.direction,
        provider: raw.provider,
        cost_per_minute,
        assistant: raw.assistant,
        campaign: raw.campaign,
        weight,
        dial_weight,
        intent: raw.intent,
        sentiment: raw.sentiment,
        outcome: raw.outcome,
        summary: raw.summary.map(|s| s.into_inner()),
        answered: raw.answered,
        ring_secs,
        interrupt_chance,
        vars,
        steps,
    })
}
