//! The ratatui console (`callwatch`): live calls, transcripts, queue, analytics, history,
//! and keys to act on calls.
//!
//! Architecture: the UI task owns [`app::App`]; [`update::update`] is the only thing that
//! changes it (pure, unit-tested), [`ui::render`] draws it (pure function of `&App`), and
//! [`runtime`] runs the loop: terminal events, the stream task's bounded channel, REST
//! results, a 1 s clock, and a capped frame rate.

pub mod app;
mod clean;
pub mod config;
pub mod filter;
pub mod keys;
pub mod latency;
pub mod layout;
pub mod rules;
pub mod runtime;
pub mod theme;
pub mod transcript;
pub mod ui;
pub mod update;

/// Sample data shared with the benchmark (`tests/support/fixtures.rs`, public API only).
#[cfg(test)]
mod fixtures {
    // The file names the crate `callwatch`, as the benchmark sees it.
    use crate as callwatch;
    include!("../../tests/support/fixtures.rs");
}
#[cfg(test)]
mod compliance_tests;
#[cfg(test)]
mod round2_tests;
#[cfg(test)]
mod tests;
