//! What one org's simulated floor is asked for.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub org: String,
    /// Integration (registry) name, "simulator" by default.
    pub integration: String,
    pub seed: u64,
    /// New calls per simulated minute.
    pub calls_per_minute: f64,
    /// Time compression factor (2.0 = twice as fast).
    pub speed: f64,
    /// Upper bound on simultaneous simulated calls.
    pub max_concurrent: usize,
    /// Scenario directory; the built-in scenarios when `None`.
    pub scenarios_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            org: "demo".into(),
            integration: "simulator".into(),
            seed: 1,
            // With calls of one to two minutes this keeps a couple of dozen calls live.
            calls_per_minute: 24.0,
            speed: 1.0,
            max_concurrent: 48,
            scenarios_dir: None,
        }
    }
}
