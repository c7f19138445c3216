//! Which call an argument names: its full id, a unique prefix of the id (like git), or the
//! caller's number. Active calls win over ended ones for a number, since a caller who
//! rings back has several calls and the live one is the one people mean.

use crate::client::{HistoryQuery, RestClient};
use crate::core::model::{Call, QueueItem};

use super::output::{clean, customer, short_id};
use super::{CommandError, Exit};

/// Prefixes this short would match too much by accident.
const MIN_PREFIX: usize = 4;
/// How many recent calls a prefix is looked for in, besides the active ones.
const RECENT: u32 = 500;

pub async fn call(client: &RestClient, arg: &str) -> Result<Call, CommandError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(CommandError::new(Exit::Usage, "the call id is empty"));
    }
    match client.call(arg).await {
        Ok(call) => return Ok(call),
        Err(e) if e.status() == Some(404) => {}
        Err(e) => return Err(e.into()),
    }
    let active = client.active_calls().await?;
    let digits = phone_digits(arg);
    // A number is searched for (older calls may be past the recent page); a prefix is not.
    let query = HistoryQuery {
        status: Some("all".into()),
        q: digits.clone(),
        limit: Some(RECENT),
        cursor: None,
        filters: Vec::new(),
    };
    let recent = client.calls(&query).await?.calls;
    let mut all = active;
    for c in recent {
        if !all.iter().any(|a| a.id == c.id) {
            all.push(c);
        }
    }
    pick(arg, digits.as_deref(), all)
}

/// The digits of an argument that looks like a phone number (at least 4 of them, nothing
/// but digits, `+`, spaces, dashes, dots and parentheses).
fn phone_digits(arg: &str) -> Option<String> {
    let phoneish = arg
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'));
    let digits: String = arg.chars().filter(char::is_ascii_digit).collect();
    (phoneish && digits.len() >= MIN_PREFIX).then_some(digits)
}

fn pick(arg: &str, digits: Option<&str>, calls: Vec<Call>) -> Result<Call, CommandError> {
    let lower = arg.to_ascii_lowercase();
    let by_id: Vec<&Call> = if arg.len() >= MIN_PREFIX {
        calls
            .iter()
            .filter(|c| c.id.to_ascii_lowercase().starts_with(&lower))
            .collect()
    } else {
        Vec::new()
    };
    let by_number: Vec<&Call> = match digits {
        Some(d) => calls
            .iter()
            .filter(|c| {
                let theirs: String = customer(c).chars().filter(char::is_ascii_digit).collect();
                !theirs.is_empty() && (theirs == d || theirs.ends_with(d))
            })
            .collect(),
        None => Vec::new(),
    };
    let mut found: Vec<&Call> = by_id;
    for c in by_number {
        if !found.iter().any(|f| f.id == c.id) {
            found.push(c);
        }
    }
    if found.len() > 1 {
        let live: Vec<&Call> = found
            .iter()
            .copied()
            .filter(|c| c.state.is_active())
            .collect();
        if live.len() == 1 {
            found = live;
        }
    }
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CommandError::new(
            Exit::NotFound,
            format!(
                "no call matches {:?} (an id, a unique prefix of one, or the caller's number)",
                clean(arg)
            ),
        )),
        many => {
            let list: Vec<String> = many
                .iter()
                .take(10)
                .map(|c| {
                    format!(
                        "{} {} {}",
                        short_id(&c.id),
                        clean(customer(c)),
                        c.state.as_str()
                    )
                })
                .collect();
            let more = if many.len() > 10 {
                format!(" and {} more", many.len() - 10)
            } else {
                String::new()
            };
            Err(CommandError::new(
                Exit::Usage,
                format!(
                    "{:?} matches {} calls: {}{more}; give more of the id",
                    clean(arg),
                    many.len(),
                    list.join(", ")
                ),
            ))
        }
    }
}

/// A queue item by id or unique prefix.
pub async fn queue_item(client: &RestClient, arg: &str) -> Result<QueueItem, CommandError> {
    let arg = arg.trim();
    let items = client.queue().await?;
    if let Some(exact) = items.iter().find(|i| i.id == arg) {
        return Ok(exact.clone());
    }
    let lower = arg.to_ascii_lowercase();
    let found: Vec<&QueueItem> = items
        .iter()
        .filter(|i| !lower.is_empty() && i.id.to_ascii_lowercase().starts_with(&lower))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(CommandError::new(
            Exit::NotFound,
            format!("no queued call matches {:?}", clean(arg)),
        )),
        many => {
            let list: Vec<String> = many.iter().map(|i| short_id(&i.id)).collect();
            Err(CommandError::new(
                Exit::Usage,
                format!(
                    "{:?} matches {} queued calls: {}; give more of the id",
                    clean(arg),
                    many.len(),
                    list.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_recognised_and_prefixes_are_not_numbers() {
        assert_eq!(
            phone_digits("+1 (555) 000-1111").as_deref(),
            Some("15550001111")
        );
        assert_eq!(phone_digits("0a1b2c3d"), None);
        assert_eq!(phone_digits("12"), None);
    }
}
