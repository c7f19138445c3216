//! Managed phone numbers (`[[gateway.phone_numbers]]`): the org's own lines with a friendly
//! name, provider, business hours in their time zone, greeting and forward-to number.
//! Inbound calls to a line outside its business hours are marked after-hours; analytics can
//! group by line.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::compliance::zone::parse_zone;
use crate::core::compliance::{normalise, CallingWindow};
use crate::core::model::{Call, Direction};

pub const AFTER_HOURS: &str = "after_hours";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumber {
    pub org: String,
    /// With its country code; compared as E.164.
    pub number: String,
    pub name: String,
    #[serde(default)]
    pub provider: Option<String>,
    /// IANA zone of the business hours.
    pub time_zone: String,
    #[serde(default)]
    pub business_hours: Option<CallingWindow>,
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub forward_to: Option<String>,
}

impl PhoneNumber {
    pub fn validate(&self) -> anyhow::Result<()> {
        let at = format!("[[gateway.phone_numbers]] {:?}", self.name);
        normalise(&self.number, None)
            .map_err(|e| anyhow::anyhow!("{at}: number {e} (write it with its country code)"))?;
        if let Some(f) = &self.forward_to {
            normalise(f, None).map_err(|e| anyhow::anyhow!("{at}: forward_to {e}"))?;
        }
        anyhow::ensure!(
            parse_zone(&self.time_zone).is_some(),
            "{at}: time_zone {:?} is not an IANA time zone such as \"America/New_York\"",
            self.time_zone
        );
        Ok(())
    }

    /// Why an inbound call at `at` is after hours, or `None` during business hours.
    pub fn after_hours(&self, at: DateTime<Utc>) -> Option<String> {
        let window = self.business_hours.as_ref()?;
        let zone = parse_zone(&self.time_zone)?;
        (!window.is_open(zone, at)).then(|| {
            format!(
                "After hours: {} is open {} ({})",
                self.name,
                window.describe(),
                self.time_zone
            )
        })
    }
}

/// The org's line a call used: the number called (inbound) or called from (outbound).
pub fn line_of(call: &Call) -> &str {
    match call.direction {
        Direction::Inbound => &call.to,
        Direction::Outbound => &call.from,
    }
}

/// The managed number `raw` is, among `numbers` of `org`.
pub fn find<'a>(numbers: &'a [PhoneNumber], org: &str, raw: &str) -> Option<&'a PhoneNumber> {
    let key = normalise(raw, None).ok()?;
    numbers
        .iter()
        .find(|n| n.org == org && normalise(&n.number, None).ok().as_deref() == Some(key.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::compliance::window::WindowSpec;

    #[test]
    fn business_hours_in_the_lines_zone() {
        let n = PhoneNumber {
            org: "acme".into(),
            number: "+1 (212) 555-0100".into(),
            name: "Main line".into(),
            provider: Some("Twilio".into()),
            time_zone: "America/New_York".into(),
            business_hours: Some(
                CallingWindow::try_from(WindowSpec {
                    start: "09:00".into(),
                    end: "17:00".into(),
                    days: vec![
                        "mon".into(),
                        "tue".into(),
                        "wed".into(),
                        "thu".into(),
                        "fri".into(),
                    ],
                })
                .unwrap(),
            ),
            greeting: None,
            forward_to: Some("+1 212 555 0199".into()),
        };
        n.validate().unwrap();
        // Tue 2026-11-17 15:00 UTC = 10:00 in New York; 23:00 UTC = 18:00.
        assert_eq!(n.after_hours("2026-11-17T15:00:00Z".parse().unwrap()), None);
        let why = n
            .after_hours("2026-11-17T23:00:00Z".parse().unwrap())
            .unwrap();
        assert!(
            why.starts_with("After hours: Main line is open 09:00-17:00"),
            "{why}"
        );
        let numbers = [n];
        assert!(
            find(&numbers, "acme", "(212) 555-0100").is_none(),
            "no region: not a match"
        );
        assert!(find(&numbers, "acme", "+12125550100").is_some());
        assert!(find(&numbers, "globex", "+1 212 555 0100").is_none());
        let mut bad = numbers[0].clone();
        bad.time_zone = "Nowhere/Land".into();
        assert!(bad.validate().is_err());
    }
}
