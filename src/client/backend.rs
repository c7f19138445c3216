//! Which kind of server the console talks to, and what it can do. A callwatch gateway can do
//! everything; a seed-style Socket.IO backend has no say, instruct, end, queue, summary or
//! history endpoints, so those are refused before any request is sent.

use crate::core::action::ActionKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// A callwatch gateway (`callwatch serve`): REST + the resumable `/api/stream`.
    #[default]
    Gateway,
    /// A seed-style Node backend: Socket.IO events + its `/api/calls/...` REST paths.
    SocketIo,
}

/// Things a backend may lack besides call actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Queue,
    Summary,
    History,
}

impl Backend {
    pub fn parse(s: &str) -> Option<Backend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gateway" | "callwatch" => Some(Backend::Gateway),
            "socketio" | "socket.io" | "seed" => Some(Backend::SocketIo),
            _ => None,
        }
    }

    fn refusal(self, what: &str) -> String {
        format!("this backend (a seed Socket.IO server) cannot {what}")
    }

    /// `Err(reason)` when this backend has no way to do `kind` at all.
    pub fn call_action(self, kind: ActionKind) -> Result<(), String> {
        match (self, kind) {
            (Backend::Gateway, _)
            | (
                Backend::SocketIo,
                ActionKind::TakeOver | ActionKind::PauseAi | ActionKind::ResumeAi,
            ) => Ok(()),
            (Backend::SocketIo, kind) => Err(self.refusal(kind.what())),
        }
    }

    pub fn feature(self, feature: Feature) -> Result<(), String> {
        match self {
            Backend::Gateway => Ok(()),
            Backend::SocketIo => Err(self.refusal(match feature {
                Feature::Queue => "dial or cancel queued calls",
                Feature::Summary => "write call summaries",
                Feature::History => "list ended calls",
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_backend_takes_over_pauses_and_resumes_only() {
        let b = Backend::SocketIo;
        for k in [
            ActionKind::TakeOver,
            ActionKind::PauseAi,
            ActionKind::ResumeAi,
        ] {
            assert_eq!(b.call_action(k), Ok(()));
        }
        for k in [ActionKind::Say, ActionKind::Instruct, ActionKind::End] {
            let reason = b.call_action(k).unwrap_err();
            assert!(reason.starts_with("this backend (a seed Socket.IO server) cannot "));
        }
        assert!(b.feature(Feature::Queue).is_err());
        assert!(ActionKind::ALL
            .iter()
            .all(|k| Backend::Gateway.call_action(*k).is_ok()));
        assert_eq!(Backend::parse("Socket.IO"), Some(Backend::SocketIo));
        assert_eq!(Backend::parse("nope"), None);
    }
}
