//! Compliance rules, pure: phone number normalisation, the callee's time zone, calling
//! window arithmetic and the disclosure / consent phrase checks. The gateway enforces them
//! (`gateway/compliance`); nothing here does I/O. See docs/COMPLIANCE.md.

pub mod number;
pub mod phrases;
pub mod window;
pub mod zone;

pub use number::{normalise, NumberError};
pub use window::CallingWindow;
pub use zone::{locate, Location};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One number on an org's do-not-call list (JSON of `/api/compliance/dnc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DncEntry {
    /// E.164.
    pub number: String,
    /// Where the request came from, e.g. "caller_request", "national_registry", "manual".
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Token name of who added it (or "import").
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

/// Audit actions of compliance decisions (the gateway is the actor, see docs/COMPLIANCE.md).
pub mod decision {
    pub const BLOCKED: &str = "compliance_blocked";
    pub const RESCHEDULED: &str = "compliance_rescheduled";
    pub const FLAGGED: &str = "compliance_flagged";
    pub const DNC_ADDED: &str = "dnc_add";
    pub const DNC_REMOVED: &str = "dnc_remove";
    pub const DNC_IMPORTED: &str = "dnc_import";
}

/// A queue item compliance refused to dial ("blocked: ..."): failed, but shown with its
/// reason in the console's queue until the view is rebuilt.
pub fn is_blocked(item: &crate::core::model::QueueItem) -> bool {
    item.state == crate::core::model::QueueState::Failed
        && item
            .last_result
            .as_deref()
            .is_some_and(|r| r.starts_with("blocked:"))
}

/// Alert kinds raised by the live watcher start with this.
pub const ALERT_PREFIX: &str = "compliance_";

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
