//! The connection to the gateway, the status line and the requests in flight.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::client::Backend;
use crate::core::model::Role;
use crate::core::protocol::DestinationList;

/// Connection state shown in the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    Connecting {
        attempt: u32,
    },
    Connected {
        /// Set when the last (re)connection could not resume and state was rebuilt.
        resynced_at: Option<DateTime<Utc>>,
    },
    Reconnecting {
        at: DateTime<Utc>,
        error: String,
    },
    AuthFailed(String),
}

/// Who we are to the gateway, and whether we are connected.
pub struct Session {
    pub conn: Conn,
    pub org: Option<String>,
    pub actor: Option<String>,
    pub role: Option<Role>,
    /// What the server at the other end can do at all (set by the runtime).
    pub backend: Backend,
    /// The org's transfer destinations and our own phone (`GET /api/destinations`), asked
    /// for when a transfer or take over dialog first opens.
    pub destinations: Option<DestinationList>,
    /// That request, while it is in flight.
    pub destinations_request: Option<u64>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            conn: Conn::Connecting { attempt: 0 },
            org: None,
            actor: None,
            role: None,
            backend: Backend::default(),
            destinations: None,
            destinations_request: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Info,
    Pending,
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub kind: StatusKind,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// Requests handed to the runtime, by id; their answers come back as `Msg::Done`.
pub struct Requests {
    pub(in crate::console) next: u64,
    /// Requests in flight: id -> what to say when they finish.
    pub(in crate::console) pending: BTreeMap<u64, String>,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            next: 1,
            pending: BTreeMap::new(),
        }
    }
}

impl Requests {
    /// A fresh request id.
    pub(in crate::console) fn id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }
}
