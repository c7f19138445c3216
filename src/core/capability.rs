//! What a voice stack can do: each provider declares its set, each call carries its
//! provider's, and the rule book maps actions onto it.

use serde::{Deserialize, Serialize};

/// What a voice stack can do; each provider declares its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    TakeOver,
    PauseAi,
    ResumeAi,
    Say,
    Instruct,
    End,
    /// Can place outbound calls for queue items.
    Dial,
    /// Can hand the caller to another number or SIP address (cold: the AI leaves at once).
    Transfer,
    /// Can transfer warm: the receiving person hears a summary before the caller joins.
    WarmTransfer,
    /// Take over can bridge the caller to the taker's own phone (a real voice).
    PhoneTakeOver,
    /// After a take over, the AI can be given the call back.
    HandBack,
}

impl Capability {
    /// Everything: the simulator, and an integration with a control URL and no explicit list.
    pub const ALL: [Capability; 11] = [
        Capability::TakeOver,
        Capability::PauseAi,
        Capability::ResumeAi,
        Capability::Say,
        Capability::Instruct,
        Capability::End,
        Capability::Dial,
        Capability::Transfer,
        Capability::WarmTransfer,
        Capability::PhoneTakeOver,
        Capability::HandBack,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Capability::TakeOver => "take over the call",
            Capability::PauseAi => "pause the AI",
            Capability::ResumeAi => "resume the AI",
            Capability::Say => "speak text to the caller",
            Capability::Instruct => "instruct the AI",
            Capability::End => "end the call",
            Capability::Dial => "dial queued calls",
            Capability::Transfer => "transfer the call",
            Capability::WarmTransfer => "transfer the call warm (with a summary first)",
            Capability::PhoneTakeOver => "bridge the caller to the taker's phone",
            Capability::HandBack => "hand the call back to the AI",
        }
    }
}
