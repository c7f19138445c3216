//! UI-free gateway client: REST actions and the resumable event stream. Headless commands,
//! tests and the console all use it.

mod backend;
mod error;
mod rest;
pub mod socketio;
mod stream;

pub use backend::{Backend, Feature};
pub use error::ClientError;
pub use rest::{HistoryQuery, RestClient, WebhookEntry};
pub use stream::{spawn_stream, Backoff, StreamConfig, StreamHandle, StreamMsg};
