//! Prometheus metrics, collected at scrape time from the state Observatory already keeps (the
//! hub, ingest counters, live connections, store size, alerts): nothing on the hot paths.
//!
//! One snapshot ([`Family`] list, built by [`families`]) feeds three encoders: OpenMetrics
//! through the `prometheus-client` crate, the classic Prometheus text format (0.0.4, for
//! scrapers and tools that do not speak OpenMetrics, such as `promtool check metrics`), and
//! JSON. Label values are capped per family ([`Caps`]); the rest are folded into `other`.

mod cap;
mod families;
pub mod json;
pub mod text;

pub use cap::{LabelCap, OTHER};
pub use families::{families, Sources};

use crate::server::hub::Buckets;

/// Most distinct agents labelled per family; the rest count as `agent="other"`.
pub const MAX_AGENTS: usize = 500;
/// Most distinct `provider/model` pairs; the rest count as `provider="other", model="other"`.
pub const MAX_MODELS: usize = 200;
/// Most distinct tools; the rest count as `tool="other"`.
pub const MAX_TOOLS: usize = 200;

/// The label caps, kept for the life of the server so a value admitted once keeps its own
/// series (and `other` only ever grows).
pub struct Caps {
    pub agents: LabelCap,
    pub models: LabelCap,
    pub tools: LabelCap,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            agents: LabelCap::new(MAX_AGENTS),
            models: LabelCap::new(MAX_MODELS),
            tools: LabelCap::new(MAX_TOOLS),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Info,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Info => "info",
        }
    }
}

/// One metric family in OpenMetrics terms: `name` has no `_total`/`_info` suffix and no unit
/// (see [`Family::full_name`]).
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub unit: Option<&'static str>,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The family name with its unit, e.g. `observatory_execution_duration_seconds`.
    pub fn full_name(&self) -> String {
        match self.unit {
            Some(unit) => format!("{}_{unit}", self.name),
            None => self.name.to_string(),
        }
    }
}

pub type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Clone)]
pub struct Sample {
    pub labels: Labels,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Number(f64),
    Histogram(Buckets),
}
