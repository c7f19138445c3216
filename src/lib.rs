//! callwatch: a terminal console for supervising live AI voice-agent calls, and the gateway
//! it connects to.
//!
//! Layout mirrors the architecture:
//! - [`core`]: UI-free domain model, wire protocol, ingest events, text sanitising. Shared by all.
//! - [`client`]: UI-free gateway client (REST + resumable event stream).
//! - [`gateway`]: `callwatch serve`, the axum + SQLite backend and provider adapters.
//! - [`sim`]: the built-in call simulator, a provider like any other.
//! - [`console`]: the ratatui console.

pub mod cli;
pub mod client;
pub mod console;
pub mod core;
pub mod gateway;
pub mod sim;
