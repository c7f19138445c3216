//! A short extractive summary of a call from its own data (no language model): who called,
//! what they asked first, what came of it.

use crate::core::model::{Call, CallState, Direction, Speaker, TranscriptEntry};

const MAX_QUOTE: usize = 160;

fn quote(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_QUOTE {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_QUOTE).collect();
    format!("{}…", cut.trim_end())
}

pub fn extractive(call: &Call, transcript: &[TranscriptEntry]) -> String {
    let who = match (&call.lead.name, call.direction) {
        (Some(name), _) => name.clone(),
        (None, Direction::Inbound) => call.from.clone(),
        (None, Direction::Outbound) => call.to.clone(),
    };
    let mut parts = vec![match call.direction {
        Direction::Inbound => format!("Inbound call from {who}"),
        Direction::Outbound => format!("Outbound call to {who}"),
    }];
    if let Some(c) = &call.campaign {
        parts[0].push_str(&format!(" ({c})"));
    }
    parts[0].push('.');
    let caller_lines: Vec<&TranscriptEntry> = transcript
        .iter()
        .filter(|e| e.speaker == Speaker::Caller && !e.text.trim().is_empty())
        .collect();
    // The first substantial thing the caller said usually states the request.
    if let Some(ask) = caller_lines
        .iter()
        .find(|e| e.text.split_whitespace().count() >= 4)
        .or(caller_lines.first())
    {
        parts.push(format!("Caller said: \"{}\".", quote(&ask.text)));
    }
    if let Some(intent) = &call.intent {
        parts.push(format!("Intent: {intent}."));
    }
    if let Some(t) = &call.takeover {
        parts.push(format!("Taken over by {} ({}).", t.by, t.reason));
    }
    match (&call.outcome, call.state) {
        (Some(o), _) => parts.push(format!("Outcome: {}.", o.replace('_', " "))),
        (None, CallState::Ended) => parts.push("Outcome: not reported.".into()),
        (None, _) => parts.push("The call is still in progress.".into()),
    }
    parts.join(" ")
}
