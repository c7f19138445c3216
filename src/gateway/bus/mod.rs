//! Fan-out between gateway instances: every instance publishes what it committed (org,
//! seq, event) to a NATS JetStream stream and consumes what every instance committed, so
//! each one delivers any instance's events to its own websocket and SSE clients, in seq
//! order.
//!
//! NATS only carries; the shared store's per-org event log is the record. A consumer that
//! sees a gap (seq > last + 1: a message still in flight from another instance, a restart,
//! a NATS outage) reads the missing events from the log before delivering, so clients
//! never see a hole and never see a seq twice (see `fanout.rs`).

pub mod config;
pub mod fanout;
pub mod nats;

pub use config::{redact_url, BusKind, BusSettings};
pub use nats::{BusMessage, NatsBus, WireEvent};
