//! Where a call can go from the console: how a take over will speak (type to talk, or the
//! taker's phone) and where a transfer can send the caller. Both read the call's provider
//! capabilities and `GET /api/destinations`, and ask the rule book (`core::action`) the same
//! question the gateway will, so the dialog says what will happen before it is confirmed.

use super::App;
use crate::core::action::{takeover_phone, Capability, TakeoverMode};
use crate::core::model::Call;
use crate::core::protocol::Destination;

/// What the take over dialog offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceOffer {
    /// `GET /api/destinations` has not answered yet (the gateway will decide).
    Checking,
    /// The provider's capabilities are unknown (e.g. a seed backend): the gateway decides.
    Unknown,
    /// Type to talk, or the caller put through to `phone`.
    Choice { phone: String },
    /// Type to talk only, and why not by phone.
    TextOnly { why: String },
    /// By phone only, and why not by text.
    PhoneOnly { phone: String, why: String },
    /// Neither: the gateway would refuse.
    Refused { why: String },
}

impl VoiceOffer {
    /// The mode to send for the supervisor's pick.
    pub fn mode(&self, by_phone: bool) -> Option<TakeoverMode> {
        match self {
            VoiceOffer::Checking | VoiceOffer::Unknown | VoiceOffer::Refused { .. } => None,
            VoiceOffer::Choice { .. } if by_phone => Some(TakeoverMode::Phone),
            VoiceOffer::Choice { .. } | VoiceOffer::TextOnly { .. } => Some(TakeoverMode::Text),
            VoiceOffer::PhoneOnly { .. } => Some(TakeoverMode::Phone),
        }
    }
}

/// How a take over of `call` by us can speak.
pub fn voice_offer(app: &App, call: &Call) -> VoiceOffer {
    let Some(caps) = &call.capabilities else {
        return VoiceOffer::Unknown;
    };
    let Some(list) = &app.session.destinations else {
        return VoiceOffer::Checking;
    };
    let mine = list.my_phone.as_deref();
    let text = takeover_phone(Some(TakeoverMode::Text), mine, caps, &call.provider);
    let phone = takeover_phone(Some(TakeoverMode::Phone), mine, caps, &call.provider);
    match (text.err(), phone) {
        (None, Ok(Some(phone))) => VoiceOffer::Choice { phone },
        (None, Err(why)) => VoiceOffer::TextOnly { why },
        (None, Ok(None)) => VoiceOffer::TextOnly { why: String::new() },
        (Some(why), Ok(Some(phone))) => VoiceOffer::PhoneOnly { phone, why },
        // The sentence the gateway would answer a take over without a mode.
        (Some(why), _) => VoiceOffer::Refused {
            why: takeover_phone(None, mine, caps, &call.provider)
                .err()
                .unwrap_or(why),
        },
    }
}

/// The org's named destinations, once known (empty until then).
pub fn destinations(app: &App) -> &[Destination] {
    app.session
        .destinations
        .as_ref()
        .map(|d| d.destinations.as_slice())
        .unwrap_or(&[])
}

/// `Err(why)` when the call's provider cannot transfer warm.
pub fn warm_allowed(call: &Call) -> Result<(), String> {
    match &call.capabilities {
        Some(caps) if !caps.contains(&Capability::WarmTransfer) => {
            Err(format!("{} transfers cold only", call.provider))
        }
        _ => Ok(()),
    }
}
