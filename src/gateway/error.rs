//! The gateway's domain errors. The engine and the auth rules answer with these; only the
//! HTTP layer (`api/`) turns them into status codes and JSON bodies, and only it logs the
//! internal ones (once, where the 500 is built).

use crate::core::provider::ProviderError;
use crate::gateway::store::StoreError;

/// `Display` is the sentence a client is shown (internal errors excepted: see `api/`).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the current state (an ended call, a dialed queue item).
    #[error("{0}")]
    Conflict(String),
    /// Another action on the same call is in progress ("sam is already taking over this
    /// call"); nothing was performed, so retrying later is safe.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Forbidden(String),
    /// The stack carrying the call cannot do this.
    #[error("{message}")]
    Unsupported { message: String },
    /// The request (or an ingested event) is not valid; `field` names what is wrong.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The voice stack failed to carry an action out.
    #[error("{0}")]
    Upstream(String),
    #[error("too many actions from this token; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Other instances kept changing the same org while this change was planned (every
    /// attempt was refused as stale); nothing was done, retrying is safe.
    #[error("{0}")]
    Contended(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    pub fn not_found(message: impl Into<String>) -> Self {
        EngineError::NotFound(message.into())
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        EngineError::Conflict(message.into())
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        EngineError::Unsupported {
            message: message.into(),
        }
    }
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<ProviderError> for EngineError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::Unsupported { .. } => EngineError::unsupported(err.to_string()),
            ProviderError::Upstream(m) => EngineError::Upstream(m),
            ProviderError::Gone(m) => EngineError::Conflict(m),
        }
    }
}

impl From<tokio::task::JoinError> for EngineError {
    fn from(err: tokio::task::JoinError) -> Self {
        EngineError::Internal(format!("a gateway task did not finish: {err}"))
    }
}
