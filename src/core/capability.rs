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
}

impl Capability {
    /// Everything: the simulator, and an integration with a control URL and no explicit list.
    pub const ALL: [Capability; 7] = [
        Capability::TakeOver,
        Capability::PauseAi,
        Capability::ResumeAi,
        Capability::Say,
        Capability::Instruct,
        Capability::End,
        Capability::Dial,
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
        }
    }
}
