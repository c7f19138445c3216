//! UI-free core shared by the gateway, the simulator, the client and the console.
//! Nothing in here may depend on ratatui, crossterm, axum or rusqlite.

pub mod ingest;
pub mod model;
pub mod protocol;
pub mod sanitize;
