//! The live disclosure / consent watcher: after each final AI turn, has the AI said the
//! configured phrases within its first `within_ai_turns` turns? Raises an alert once the
//! deadline turn arrives without them, never before. Pure.

use super::ComplianceRules;
use crate::core::compliance::phrases::contains_any;

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

/// Findings due now for a call whose AI said `ai_turns` (final turns, in order) to a party
/// in `region`; `raised` are the alert kinds the call already carries.
pub fn check(
    rules: &ComplianceRules,
    region: &str,
    ai_turns: &[&str],
    raised: &[&str],
) -> Vec<Finding> {
    let n = rules.within_ai_turns as usize;
    if ai_turns.len() < n {
        return Vec::new();
    }
    let first = &ai_turns[..n];
    let said = |phrases: &[String]| first.iter().any(|t| contains_any(t, phrases));
    let mut out = Vec::new();
    if !rules.disclosure_phrases.is_empty()
        && !raised.contains(&DISCLOSURE)
        && !said(&rules.disclosure_phrases)
    {
        out.push(Finding {
            kind: DISCLOSURE,
            message: format!("Warning: the AI did not say it is an AI within its first {n} turns"),
            violation: false,
        });
    }
    if !rules.consent_phrases.is_empty()
        && !raised.contains(&CONSENT)
        && !said(&rules.consent_phrases)
    {
        let two_party = !region.is_empty()
            && rules
                .two_party_consent_regions
                .iter()
                .any(|r| r.eq_ignore_ascii_case(region));
        out.push(Finding {
            kind: CONSENT,
            message: if two_party {
                format!("Violation: no recording-consent notice within the AI's first {n} turns ({region} requires two-party consent)")
            } else {
                format!("Warning: no recording-consent notice within the AI's first {n} turns")
            },
            violation: two_party,
        });
    }
    out
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

    #[test]
    fn nothing_before_the_deadline_turn() {
        assert!(check(&rules(), "US-CA", &["Hello there"], &[]).is_empty());
    }

    #[test]
    fn at_the_deadline_without_phrases() {
        let f = check(&rules(), "US-CA", &["Hello", "How can I help?"], &[]);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, DISCLOSURE);
        assert!(!f[0].violation);
        assert!(f[1].violation, "two-party region");
        let f = check(&rules(), "US-NY", &["Hello", "How can I help?"], &[]);
        assert!(!f[1].violation);
        assert!(f[1].message.starts_with("Warning"));
    }

    #[test]
    fn phrases_in_time_or_already_raised() {
        let ok = ["Hola, soy una IA.", "This call is recorded for quality."];
        assert!(check(&rules(), "US-CA", &ok, &[]).is_empty());
        // Said too late (third turn) still counts as missing.
        let late = ["Hi", "Hello", "I am an AI"];
        assert_eq!(check(&rules(), "", &late, &[CONSENT]).len(), 1);
        assert!(check(&rules(), "", &late, &[CONSENT, DISCLOSURE]).is_empty());
    }
}
