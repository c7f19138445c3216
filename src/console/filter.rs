//! What `/` and `:calls` match: free words against every label the table shows (state,
//! provider, intent, sentiment, alert kinds and messages, outcome) as well as names and
//! numbers, and `key=value` terms against one field. Every term must match.

use super::app::customer_number;
use super::transcript::find_all;
use crate::core::model::{Call, CallState, Direction, Sentiment};

/// Keys a `key=value` term may name on the Calls screen.
pub const CALL_KEYS: &[&str] = &[
    "state",
    "provider",
    "intent",
    "sentiment",
    "campaign",
    "alert",
    "direction",
    "who",
    "number",
    "assistant",
];

/// The words the STATE column shows, beside the protocol's name.
pub fn state_label(s: CallState) -> &'static str {
    match s {
        CallState::InProgress => "AI",
        CallState::AiPaused => "PAUSED",
        CallState::TakenOver => "HUMAN",
        CallState::Ringing => "RING",
        CallState::Queued => "QUEUED",
        CallState::Ended => "ENDED",
    }
}

/// The SENT column's label and the full word.
pub fn sentiment_labels(s: Sentiment) -> [&'static str; 2] {
    match s {
        Sentiment::Positive => ["pos", "positive"],
        Sentiment::Neutral => ["neu", "neutral"],
        Sentiment::Negative => ["NEG", "negative"],
        Sentiment::Unknown => ["", "unknown"],
    }
}

pub fn direction_label(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// A term of a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Term<'a> {
    Word(&'a str),
    Field(&'a str, &'a str),
}

/// Splits a filter into terms; `Err` names the first unknown key.
pub fn parse<'a>(filter: &'a str, keys: &[&str]) -> Result<Vec<Term<'a>>, String> {
    filter
        .split_whitespace()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if keys.contains(&k) => Ok(Term::Field(k, v)),
            Some((k, _)) => Err(format!("unknown filter {k:?} (known: {})", keys.join(", "))),
            None => Ok(Term::Word(w)),
        })
        .collect()
}

fn has(hay: &str, needle: &str) -> bool {
    needle.is_empty() || !find_all(hay, needle).is_empty()
}

/// Whether `call` matches every term of `filter` (an unknown key matches nothing).
pub fn matches(call: &Call, filter: &str) -> bool {
    if filter.trim().is_empty() {
        return true;
    }
    let Ok(terms) = parse(filter, CALL_KEYS) else {
        return false;
    };
    terms.iter().all(|t| match *t {
        Term::Word(w) => word(call, w),
        Term::Field(k, v) => field(call, k, v),
    })
}

fn field(call: &Call, key: &str, v: &str) -> bool {
    let opt = |o: &Option<String>| has(o.as_deref().unwrap_or(""), v);
    match key {
        "state" => has(call.state.as_str(), v) || has(state_label(call.state), v),
        "provider" => has(&call.provider, v) || has(&call.integration, v),
        "intent" => opt(&call.intent),
        "sentiment" => sentiment_labels(call.sentiment).iter().any(|l| has(l, v)),
        "campaign" => opt(&call.campaign),
        "alert" => call.alerts.iter().any(|a| has(&a.kind, v)),
        "direction" => has(direction_label(call.direction), v),
        "who" => opt(&call.lead.name),
        "number" => has(customer_number(call), v),
        "assistant" => opt(&call.assistant),
        _ => false,
    }
}

fn word(call: &Call, w: &str) -> bool {
    let texts = [
        call.lead.name.as_deref().unwrap_or(""),
        customer_number(call),
        call.campaign.as_deref().unwrap_or(""),
        call.provider.as_str(),
        call.intent.as_deref().unwrap_or(""),
        call.assistant.as_deref().unwrap_or(""),
        call.outcome.as_deref().unwrap_or(""),
        call.state.as_str(),
        state_label(call.state),
        direction_label(call.direction),
    ];
    texts.iter().any(|f| has(f, w))
        || sentiment_labels(call.sentiment)
            .iter()
            .any(|l| !l.is_empty() && has(l, w))
        || call
            .alerts
            .iter()
            .any(|a| has(&a.kind, w) || has(&a.message, w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::fixtures;

    #[test]
    fn words_match_the_labels_shown() {
        let calls = fixtures::calls();
        let shown = |f: &str| {
            calls
                .iter()
                .filter(|c| matches(c, f))
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
        };
        for c in &calls {
            assert!(matches(c, state_label(c.state)), "{} {:?}", c.id, c.state);
        }
        let neg: Vec<&str> = calls
            .iter()
            .filter(|c| c.sentiment == Sentiment::Negative)
            .map(|c| c.id.as_str())
            .collect();
        assert!(!neg.is_empty());
        assert_eq!(shown("NEG"), neg);
        let human: Vec<&str> = calls
            .iter()
            .filter(|c| c.state == CallState::TakenOver)
            .map(|c| c.id.as_str())
            .collect();
        assert!(!human.is_empty());
        assert_eq!(shown("human"), human);
        assert!(shown("nothing-like-this").is_empty());
    }

    #[test]
    fn fields_and_unknown_keys() {
        let calls = fixtures::calls();
        let c = &calls[0];
        assert!(matches(c, &format!("provider={}", c.provider)));
        assert!(!matches(c, "provider=zzz"));
        assert!(!matches(c, "colour=red"), "an unknown key matches nothing");
        assert!(parse("colour=red", CALL_KEYS)
            .unwrap_err()
            .contains("unknown filter \"colour\""));
        assert!(matches(
            c,
            &format!("direction={}", direction_label(c.direction))
        ));
    }
}
