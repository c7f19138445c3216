//! The built-in call simulator: a provider like any other (issue: call simulator).
//!
//! Contract used by the gateway (`serve --simulate`, `demo`): [`Simulator::start`] loads the
//! scenarios, starts producing calls for one org on the current tokio runtime, delivering
//! events through the given sink, and returns the simulator, which implements
//! [`crate::gateway::provider::Provider`] under the integration name `config.integration`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::core::ingest::EventSink;

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
            calls_per_minute: 12.0,
            speed: 1.0,
            max_concurrent: 48,
            scenarios_dir: None,
        }
    }
}

pub struct Simulator {
    _private: (),
}

impl Simulator {
    pub fn start(config: SimConfig, sink: Arc<dyn EventSink>) -> anyhow::Result<Arc<Simulator>> {
        let _ = (config, sink);
        anyhow::bail!("the simulator is being built")
    }
}
