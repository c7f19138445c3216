//! The dial-time decision for one queue item: dial, block (do-not-call, no usable time
//! zone) or reschedule to the next allowed minute. Pure; the engine looks the DNC entry up.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ComplianceRules;
use crate::core::compliance::zone::parse_zone;
use crate::core::compliance::{locate, normalise, DncEntry};
use crate::core::model::QueueItem;

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Dial,
    /// Never dialled; the reason is what the queue shows ("blocked: DNC (source)").
    Block {
        reason: String,
    },
    /// Not before `at`; the reason is what the queue shows.
    Reschedule {
        at: DateTime<Utc>,
        reason: String,
    },
}

/// The key a number is compared under: E.164, or the trimmed text when the phone-number
/// data cannot read it (then only the same text matches).
pub fn dnc_key(rules: &ComplianceRules, phone: &str) -> String {
    normalise(phone, rules.default_region.as_deref()).unwrap_or_else(|_| phone.trim().to_string())
}

/// The reason shown for a DNC hit.
pub fn dnc_reason(entry: &DncEntry) -> String {
    format!("blocked: DNC ({})", entry.source)
}

/// The zones the item's callee may be in: the item's own `timeZone`, else derived from the
/// number, else the org's fallback.
pub fn zones(rules: &ComplianceRules, item: &QueueItem) -> Vec<Tz> {
    if let Some(tz) = item.time_zone.as_deref().and_then(parse_zone) {
        return vec![tz];
    }
    let derived = locate(&dnc_key(rules, &item.phone_number)).zones;
    if !derived.is_empty() {
        return derived;
    }
    rules
        .fallback_time_zone
        .as_deref()
        .and_then(parse_zone)
        .into_iter()
        .collect()
}

pub fn decide(
    rules: &ComplianceRules,
    item: &QueueItem,
    dnc: Option<&DncEntry>,
    now: DateTime<Utc>,
) -> Decision {
    if let Some(entry) = dnc {
        return Decision::Block {
            reason: dnc_reason(entry),
        };
    }
    let Some(window) = rules.window(item.campaign.as_deref()) else {
        return Decision::Dial;
    };
    let zones = zones(rules, item);
    if zones.is_empty() {
        return Decision::Block {
            reason: "blocked: no time zone known for this number (give the item a timeZone)".into(),
        };
    }
    let names: Vec<&str> = zones.iter().map(|z| z.name()).collect();
    match window.next_open(&zones, now) {
        Some(at) if at <= now => Decision::Dial,
        Some(at) => Decision::Reschedule {
            at,
            reason: format!(
                "rescheduled: outside calling hours ({} {})",
                window.describe(),
                names.join(", ")
            ),
        },
        None => Decision::Block {
            reason: format!(
                "blocked: calling hours {} never open in all of {} at once",
                window.describe(),
                names.join(", ")
            ),
        },
    }
}
