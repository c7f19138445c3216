//! UI-free core shared by the gateway, the simulator, the client and the console.
//! Nothing in here may depend on ratatui, crossterm, axum or rusqlite.
//! [`action`] is the rule book (actions, roles, states); [`provider`] the contract every
//! voice stack adapter implements.

pub mod action;
pub mod capability;
pub mod compliance;
pub mod delta;
pub mod ingest;
pub mod model;
pub mod protocol;
pub mod provider;
pub mod sanitize;
pub mod seed;
