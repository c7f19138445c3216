//! The live disclosure / consent watcher: has the AI said the configured phrases before the
//! deadline (its first `within_ai_turns` final turns, or `within_secs` seconds from the
//! call's start)? Evaluated once, when the deadline passes, never before: the result is the
//! call's stored compliance status, and each check that failed raises one alert. Pure.

use chrono::{DateTime, Duration, Utc};

use super::ComplianceRules;
use crate::core::compliance::phrases::contains_any;
use crate::core::compliance::{Check, ComplianceStatus};

pub const DISCLOSURE: &str = "compliance_disclosure";
pub const CONSENT: &str = "compliance_consent";

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Alert kind (`DISCLOSURE` or `CONSENT`).
    pub kind: &'static str,
    pub message: String,
    /// A violation (two-party consent region) rather than a warning.
    pub violation: bool,
}

/// One final AI turn: when it was said and what.
pub struct AiTurn<'a> {
    pub at: DateTime<Utc>,
    pub text: &'a str,
}

/// The deadline's result for a call: its status, and the findings to raise as alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: ComplianceStatus,
    pub findings: Vec<Finding>,
}

/// The verdict for a call whose AI said `ai_turns` (final, in order) to a party in
/// `region`, if its deadline has passed at `now`; `started` is when the call started.
/// `raised`: alert kinds the call already carries (never raised twice).
pub fn check(
    rules: &ComplianceRules,
    region: &str,
    started: DateTime<Utc>,
    ai_turns: &[AiTurn<'_>],
    raised: &[&str],
    now: DateTime<Utc>,
) -> Option<Verdict> {
    let (counted, within): (Vec<&str>, String) = match rules.within_secs {
        Some(secs) => {
            let deadline = started + Duration::seconds(i64::from(secs));
            if now < deadline {
                return None;
            }
            let said = ai_turns
                .iter()
                .filter(|t| t.at <= deadline)
                .map(|t| t.text)
                .collect();
            (said, format!("within {secs} s of the call's start"))
        }
        None => {
            let n = rules.within_ai_turns as usize;
            if ai_turns.len() < n {
                return None;
            }
            let said = ai_turns[..n].iter().map(|t| t.text).collect();
            (said, format!("within its first {n} turns"))
        }
    };
    let said = |phrases: &[String]| counted.iter().any(|t| contains_any(t, phrases));
    let mut status = ComplianceStatus {
        disclosure: None,
        consent: None,
        checked_at: now,
    };
    let mut findings = Vec::new();
    if !rules.disclosure_phrases.is_empty() {
        let ok = said(&rules.disclosure_phrases);
        status.disclosure = Some(if ok { Check::Ok } else { Check::Missing });
        if !ok && !raised.contains(&DISCLOSURE) {
            findings.push(Finding {
                kind: DISCLOSURE,
                message: format!("Warning: the AI did not say it is an AI {within}"),
                violation: false,
            });
        }
    }
    if !rules.consent_phrases.is_empty() {
        let ok = said(&rules.consent_phrases);
        let two_party = !region.is_empty()
            && rules
                .two_party_consent_regions
                .iter()
                .any(|r| r.eq_ignore_ascii_case(region));
        status.consent = Some(match (ok, two_party) {
            (true, _) => Check::Ok,
            (false, true) => Check::Violation,
            (false, false) => Check::Missing,
        });
        if !ok && !raised.contains(&CONSENT) {
            let within = within.replace("its first", "the AI's first");
            findings.push(Finding {
                kind: CONSENT,
                message: if two_party {
                    format!("Violation: no recording-consent notice {within} ({region} requires two-party consent)")
                } else {
                    format!("Warning: no recording-consent notice {within}")
                },
                violation: two_party,
            });
        }
    }
    Some(Verdict { status, findings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ComplianceRules {
        ComplianceRules {
            disclosure_phrases: vec!["I am an AI".into(), "soy una IA".into()],
            consent_phrases: vec!["this call is recorded".into()],
            within_ai_turns: 2,
            two_party_consent_regions: vec!["US-CA".into()],
            ..ComplianceRules::default()
        }
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn turns<'a>(texts: &[&'a str]) -> Vec<AiTurn<'a>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| AiTurn {
                at: t(5 * i as i64),
                text,
            })
            .collect()
    }

    fn findings(
        r: &ComplianceRules,
        region: &str,
        texts: &[&str],
        raised: &[&str],
    ) -> Vec<Finding> {
        check(r, region, t(0), &turns(texts), raised, t(60))
            .map(|v| v.findings)
            .unwrap_or_default()
    }

    #[test]
    fn nothing_before_the_deadline_turn() {
        assert_eq!(
            check(
                &rules(),
                "US-CA",
                t(0),
                &turns(&["Hello there"]),
                &[],
                t(60)
            ),
            None
        );
    }

    #[test]
    fn at_the_deadline_without_phrases() {
        let v = check(
            &rules(),
            "US-CA",
            t(0),
            &turns(&["Hello", "How can I help?"]),
            &[],
            t(9),
        );
        let v = v.unwrap_or_else(|| panic!("due at the second turn"));
        assert_eq!(v.status.disclosure, Some(Check::Missing));
        assert_eq!(v.status.consent, Some(Check::Violation));
        assert_eq!(v.status.label(), "disclosure missing · consent violation");
        let f = v.findings;
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, DISCLOSURE);
        assert!(!f[0].violation);
        assert!(f[1].violation, "two-party region");
        let f = findings(&rules(), "US-NY", &["Hello", "How can I help?"], &[]);
        assert!(!f[1].violation);
        assert!(f[1].message.starts_with("Warning"));
    }

    #[test]
    fn phrases_in_time_or_already_raised() {
        let ok = ["Hola, soy una IA.", "This call is recorded for quality."];
        let v = check(&rules(), "US-CA", t(0), &turns(&ok), &[], t(60));
        let v = v.unwrap_or_else(|| panic!("due"));
        assert!(v.findings.is_empty());
        assert_eq!(v.status.worst(), Check::Ok);
        // Said too late (third turn) still counts as missing.
        let late = ["Hi", "Hello", "I am an AI"];
        assert_eq!(findings(&rules(), "", &late, &[CONSENT]).len(), 1);
        assert!(findings(&rules(), "", &late, &[CONSENT, DISCLOSURE]).is_empty());
    }

    #[test]
    fn a_deadline_in_seconds_counts_what_was_said_by_then() {
        let r = ComplianceRules {
            within_secs: Some(8),
            ..rules()
        };
        // Turns at 0 s, 5 s, 10 s: the third (the disclosure) comes after the deadline.
        let said = turns(&["Hello", "This call is recorded.", "I am an AI"]);
        assert_eq!(
            check(&r, "", t(0), &said, &[], t(7)),
            None,
            "not before 8 s"
        );
        let v = check(&r, "", t(0), &said, &[], t(8)).unwrap_or_else(|| panic!("due at 8 s"));
        assert_eq!(v.status.disclosure, Some(Check::Missing));
        assert_eq!(v.status.consent, Some(Check::Ok));
        assert_eq!(v.findings.len(), 1);
        assert!(
            v.findings[0].message.contains("within 8 s"),
            "{:?}",
            v.findings
        );
        // No turn at all by the deadline is a deadline passed too (the turn count is not used).
        assert!(check(&r, "", t(0), &[], &[], t(8)).is_some());
    }
}
