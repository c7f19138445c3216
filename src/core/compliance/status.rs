//! A call's compliance status as stored with the call: plain data, so the call model can
//! hold it without depending on the rules that produce it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The result of one live check (disclosure or consent) at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// Said in time.
    Ok,
    /// Not said in time: a warning.
    Missing,
    /// Not said in time where the rules make that a violation (two-party consent regions).
    Violation,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Missing => "missing",
            Check::Violation => "violation",
        }
    }
}

/// A call's compliance status, stored with the call (its `compliance` field) once the
/// disclosure / consent deadline has passed; absent before, and on calls the org's rules do
/// not watch. A check the org does not configure is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplianceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<Check>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<Check>,
    /// When the deadline was evaluated.
    pub checked_at: DateTime<Utc>,
}

impl ComplianceStatus {
    /// "disclosure ok · consent violation", for tables and the detail view.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.disclosure {
            parts.push(format!("disclosure {}", c.as_str()));
        }
        if let Some(c) = self.consent {
            parts.push(format!("consent {}", c.as_str()));
        }
        parts.join(" · ")
    }

    /// The worst of the checks.
    pub fn worst(&self) -> Check {
        [self.disclosure, self.consent]
            .into_iter()
            .flatten()
            .max_by_key(|c| match c {
                Check::Ok => 0,
                Check::Missing => 1,
                Check::Violation => 2,
            })
            .unwrap_or(Check::Ok)
    }
}
