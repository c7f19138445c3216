//! callwatch: a terminal console for supervising live AI voice-agent calls, and the gateway
//! it connects to.
//!
//! Layout mirrors the architecture; imports only point down this list:
//! - [`app`]: the composition root: command line, paths, logging, `serve`/`demo` wiring.
//! - [`console`]: the ratatui console.
//! - [`client`]: UI-free gateway client (REST + resumable event stream).
//! - [`gateway`]: the axum + SQLite backend and provider adapters.
//! - [`sim`]: the built-in call simulator, a provider like any other.
//! - [`core`]: UI-free domain model, the rule book, the provider contract, wire protocol,
//!   ingest events, text sanitising. Shared by all.

pub mod app;
pub mod client;
pub mod console;
pub mod core;
pub mod gateway;
pub mod sim;
