//! The hub: the single owner of live state, rebuilt from the store at start. The ingest
//! pipeline applies events to it ([`Hub::apply`]); the alert engine publishes its alerts into
//! it ([`Hub::set_alerts`]); everything else reads snapshots of it. It knows nothing of alert
//! policy: [`Hub::facts`] states what the rules judge.
//!
//! - `state.rs`: the maps and their entries;
//! - `apply.rs`: events into state, and an execution's lifecycle;
//! - `spans.rs`: a span's effect on its execution; `llm.rs`: LLM calls and usage;
//! - `restore.rs`: state from the store; `views.rs`: what the API reads;
//! - `facts.rs`: the fleet as the alert rules see it; `window.rs`: roll-ups over time;
//! - `counters.rs`: totals for the Prometheus exposition; `pricing.rs`: LLM prices;
//! - `retire.rs`: the live set's bounds (agents past `max_agents` fold into one, idle
//!   entities leave memory).

mod apply;
mod counters;
mod facts;
mod llm;
mod pricing;
mod restore;
mod retire;
mod spans;
mod state;
mod views;
mod window;

pub use apply::Applied;
pub use counters::{AgentMetrics, Buckets, HubMetrics, LlmMetrics, ToolMetrics, DURATION_BOUNDS, LATENCY_BOUNDS};
pub use facts::{AgentFacts, FinishedRun, FleetFacts, HostMemory, ModelFacts, RunningRun, ToolFailures};
pub use pricing::{ModelPrice, PriceTable};
pub use restore::Reloaded;
pub use retire::{LiveLimits, Retired, OVERFLOW_AGENT};
pub use window::{series_from_runs, Bucket, TIERS};

use parking_lot::RwLock;
use state::State;
use std::sync::atomic::AtomicUsize;

/// The hub's maps and sets, keyed by the ids producers choose: foldhash's higher-quality
/// variant, seeded per process (with SipHash, hashing was over a third of `apply`).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;

/// Finished executions kept in memory (older ones are read from the store).
const MAX_FINISHED_IN_MEMORY: usize = 20_000;
/// Resource samples kept per execution for the live chart.
const MAX_RESOURCE_SAMPLES: usize = 600;
/// An agent not heard from for this long, with nothing in progress, is offline.
const OFFLINE_AFTER_MS: i64 = 5 * 60_000;
/// Overview KPIs look at this many minutes.
const KPI_MINUTES: usize = 15;

pub struct Hub {
    state: RwLock<State>,
    /// How many agents `state` holds, readable without its lock (ingest checks it per request).
    agent_count: AtomicUsize,
    prices: PriceTable,
    limits: LiveLimits,
    /// The host Observatory itself runs on: `/api/system` reports it first.
    own_host: String,
}

impl Hub {
    pub fn new(prices: PriceTable, own_host: String, limits: LiveLimits) -> Self {
        Self {
            state: RwLock::new(State::new(limits.max_agents)),
            agent_count: AtomicUsize::new(0),
            prices,
            limits,
            own_host,
        }
    }
}

#[cfg(test)]
mod tests;
