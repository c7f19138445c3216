//! `[gateway.compliance]`: the rules every org gets, and `[gateway.compliance.orgs.<org>]`
//! replacing them for one org. Documented in docs/COMPLIANCE.md and config.example.toml.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::core::compliance::number::region_id;
use crate::core::compliance::zone::parse_zone;
use crate::core::compliance::CallingWindow;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComplianceRules {
    /// ISO region of numbers written without a country code ("US"); none: such numbers
    /// are compared as written.
    pub default_region: Option<String>,
    /// Allowed local hours for outbound calls; none: any time.
    pub calling_hours: Option<CallingWindow>,
    /// Per campaign id, replacing `calling_hours` for its items.
    pub campaign_hours: BTreeMap<String, CallingWindow>,
    /// Zone for numbers whose zone cannot be derived; none: such items are blocked while
    /// calling hours apply (the gateway never guesses).
    pub fallback_time_zone: Option<String>,
    /// Phrases that count as telling the caller they speak with an AI (any language).
    pub disclosure_phrases: Vec<String>,
    /// Phrases that count as a recording-consent notice.
    pub consent_phrases: Vec<String>,
    /// The AI must have said both within its first this many final turns.
    pub within_ai_turns: u32,
    /// Instead of turns: the AI must have said both within this many seconds of the call's
    /// start (the check then runs when that time has passed, turns or not).
    pub within_secs: Option<u32>,
    /// Regions ("US-CA", "DE") where a missing consent notice is a violation, not a warning.
    pub two_party_consent_regions: Vec<String>,
    /// Rules for one org, replacing these (not merged) for it.
    pub orgs: BTreeMap<String, ComplianceRules>,
}

impl Default for ComplianceRules {
    fn default() -> Self {
        ComplianceRules {
            default_region: None,
            calling_hours: None,
            campaign_hours: BTreeMap::new(),
            fallback_time_zone: None,
            disclosure_phrases: Vec::new(),
            consent_phrases: Vec::new(),
            within_ai_turns: 2,
            within_secs: None,
            two_party_consent_regions: Vec::new(),
            orgs: BTreeMap::new(),
        }
    }
}

impl ComplianceRules {
    /// The rules that apply to `org`.
    pub fn for_org(&self, org: &str) -> &ComplianceRules {
        self.orgs.get(org).unwrap_or(self)
    }

    /// The window for an item of `campaign`, if any applies.
    pub fn window(&self, campaign: Option<&str>) -> Option<&CallingWindow> {
        campaign
            .and_then(|c| self.campaign_hours.get(c))
            .or(self.calling_hours.as_ref())
    }

    /// Whether the live watcher has anything to check.
    pub fn watches(&self) -> bool {
        !self.disclosure_phrases.is_empty() || !self.consent_phrases.is_empty()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_one("[gateway.compliance]")?;
        for (org, rules) in &self.orgs {
            let at = format!("[gateway.compliance.orgs.{org}]");
            anyhow::ensure!(rules.orgs.is_empty(), "{at} cannot have orgs of its own");
            rules.validate_one(&at)?;
        }
        Ok(())
    }

    fn validate_one(&self, at: &str) -> anyhow::Result<()> {
        if let Some(r) = &self.default_region {
            region_id(r).map_err(|e| anyhow::anyhow!("{at} default_region: {e}"))?;
        }
        if let Some(z) = &self.fallback_time_zone {
            anyhow::ensure!(
                parse_zone(z).is_some(),
                "{at} fallback_time_zone {z:?} is not an IANA time zone such as \"America/New_York\""
            );
        }
        anyhow::ensure!(
            self.within_ai_turns >= 1,
            "{at} within_ai_turns must be at least 1"
        );
        anyhow::ensure!(
            self.within_secs != Some(0),
            "{at} within_secs must be at least 1 (or left out to count turns)"
        );
        Ok(())
    }
}
