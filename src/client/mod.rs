//! UI-free gateway client: REST actions and the resumable event stream. Headless commands,
//! tests and the console all use it.

mod error;
mod rest;
mod stream;

pub use error::ClientError;
pub use rest::{HistoryQuery, RestClient};
pub use stream::{spawn_stream, Backoff, StreamConfig, StreamHandle, StreamMsg};
