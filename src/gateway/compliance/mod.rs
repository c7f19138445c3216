//! Compliance enforcement: the dial-time decision (do-not-call, calling windows) and the
//! live disclosure / consent watcher. The rules themselves are pure (`core::compliance`);
//! the engine calls these under the org's lock and audits every decision.

pub mod config;
pub mod dial;
pub mod numbers;
pub mod watch;

pub use config::ComplianceRules;
