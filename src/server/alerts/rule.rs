//! An alert rule: a typed condition over the hub's aggregates, a `for` duration, a severity,
//! labels, and a summary templated with the value. The TOML config adds rules
//! (`[[alerts.rules]]`) or replaces the built-in ones ([`super::defaults`]).

use crate::model::{Labels, Severity, ValueUnit};
use crate::server::clock::human_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "human_duration", default = "zero")]
    pub for_: Duration,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub labels: Labels,
    /// `{{value}}` (the value with its unit: `12.5%`, `2m 17s`, `$41.20`), `{{raw_value}}` (the
    /// bare number) and `{{label}}` (any label, e.g. `{{agent_id}}`) are replaced.
    pub summary: String,
    #[serde(default)]
    pub description: String,
}

fn zero() -> Duration {
    Duration::ZERO
}

pub(super) fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// What a rule watches. Aggregate conditions yield one alert per agent / model / host;
/// event conditions one per agent or execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Failed / finished executions of an agent over the window, in percent. Fires when the
    /// rate is above the threshold with 95 % confidence (the Wilson score interval's lower
    /// bound), so two failures in a handful of runs do not page anyone.
    AgentErrorRate {
        threshold_percent: f64,
        #[serde(with = "human_duration", default = "five_minutes")]
        window: Duration,
        #[serde(default = "one")]
        min_executions: u64,
    },
    /// p95 duration of an agent's executions that finished within the window.
    ExecutionP95 {
        threshold_ms: f64,
        #[serde(with = "human_duration", default = "five_minutes")]
        window: Duration,
        #[serde(default = "one")]
        min_executions: u64,
    },
    /// An agent not heard from for this long.
    AgentSilent {
        #[serde(with = "human_duration")]
        after: Duration,
    },
    /// An execution RUNNING longer than `after`, or (when set) longer than its agent's p99
    /// times `p99_factor`.
    ExecutionStuck {
        #[serde(with = "human_duration")]
        after: Duration,
        #[serde(default)]
        p99_factor: Option<f64>,
    },
    /// Failed / all requests of an LLM model (since start), in percent; like
    /// [`Condition::AgentErrorRate`], above the threshold with 95 % confidence.
    LlmErrorRate {
        threshold_percent: f64,
        #[serde(default = "ten")]
        min_requests: u64,
    },
    LlmP95Latency {
        threshold_ms: f64,
    },
    /// Fleet cost per hour, from the last 15 minutes.
    CostPerHour {
        budget_usd: f64,
    },
    HostMemory {
        threshold_percent: f64,
    },
    /// Ingest queue depth, in percent of its capacity.
    IngestBacklog {
        threshold_percent: f64,
    },
    /// Event rule: any execution (of `agent_id`, if set) failed within the window.
    ExecutionFailed {
        #[serde(default)]
        agent_id: Option<String>,
        #[serde(with = "human_duration", default = "five_minutes")]
        window: Duration,
    },
    /// Event rule: a tool (or any, if unset) failed `count` times within one execution.
    ToolFailures {
        #[serde(default)]
        tool: Option<String>,
        count: u32,
    },
}

impl Condition {
    /// What the condition's value measures.
    pub fn unit(&self) -> ValueUnit {
        match self {
            Self::AgentErrorRate { .. }
            | Self::LlmErrorRate { .. }
            | Self::HostMemory { .. }
            | Self::IngestBacklog { .. } => ValueUnit::Percent,
            Self::ExecutionP95 { .. } | Self::LlmP95Latency { .. } => ValueUnit::Millis,
            Self::AgentSilent { .. } | Self::ExecutionStuck { .. } => ValueUnit::Seconds,
            Self::CostPerHour { .. } => ValueUnit::Usd,
            Self::ExecutionFailed { .. } | Self::ToolFailures { .. } => ValueUnit::Count,
        }
    }
}

fn one() -> u64 {
    1
}
fn ten() -> u64 {
    10
}
