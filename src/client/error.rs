//! Errors of the gateway client. `Display` is what a person should read: the gateway's own
//! message for API errors, a plain sentence when the gateway cannot be reached.

use crate::core::protocol::ApiError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The gateway answered with a non-2xx status and an [`ApiError`] body.
    #[error("{message}")]
    Api {
        status: u16,
        /// Machine-readable code ("conflict", "forbidden"...).
        code: String,
        message: String,
        field: Option<String>,
    },
    #[error("cannot reach the gateway at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    /// The gateway answered something that is not the protocol (a proxy page, a wrong URL).
    #[error("unexpected answer from the gateway (HTTP {status}): {detail}")]
    Protocol { status: u16, detail: String },
    #[error("invalid gateway URL {url:?}: {detail}")]
    InvalidUrl { url: String, detail: String },
}

impl ClientError {
    pub fn from_api(status: u16, api: ApiError) -> Self {
        ClientError::Api {
            status,
            code: api.error,
            message: api.message,
            field: api.field,
        }
    }

    /// HTTP status, when the gateway answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401))
    }
}
