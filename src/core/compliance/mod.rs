//! Compliance rules, pure: phone number normalisation, the callee's time zone, calling
//! window arithmetic and the disclosure / consent phrase checks. The gateway enforces them
//! (`gateway/compliance`); nothing here does I/O. See docs/COMPLIANCE.md.

pub mod number;
pub mod phrases;
pub mod status;
pub mod window;
pub mod zone;

pub use number::{normalise, NumberError};
pub use status::{Check, ComplianceStatus};
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
