use super::{Agent, LlmStats, Plugin, SystemSample, Workflow};
use serde::{Deserialize, Serialize};

/// The fleet at a glance: the KPI tiles (charts come from [`super::Series`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Overview {
    pub generated_at: i64,
    pub agents_total: u64,
    /// Agents seen within the last five minutes and not offline.
    pub agents_active: u64,
    pub executions_running: u64,
    pub executions_pending: u64,
    /// Executions finished within the window (`window_minutes`).
    pub executions_finished: u64,
    pub window_minutes: u64,
    /// Percent of finished executions that completed.
    pub success_rate: Option<f64>,
    /// Percent of finished executions that failed.
    pub error_rate: Option<f64>,
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
    pub executions_per_minute: f64,
    pub tokens_per_minute: f64,
    pub cost_per_hour_usd: f64,
    pub firing_alerts: u64,
}

/// Everything at once (`GET /api/metrics`), MoFA's snapshot shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricsSnapshot {
    pub timestamp: i64,
    pub overview: Overview,
    pub agents: Vec<Agent>,
    pub workflows: Vec<Workflow>,
    pub llm_providers: Vec<LlmStats>,
    pub plugins: Vec<Plugin>,
    pub system: Option<SystemSample>,
}

/// Observatory's view of itself (`GET /api/health`, `GET /health/ready`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HealthReport {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    /// When the checks ran, RFC 3339.
    #[serde(default)]
    pub timestamp: String,
    pub version: String,
    pub uptime_seconds: u64,
    /// One entry per check: `store`, `ingest`, `memory`, `notifier`, `websocket`.
    #[serde(default)]
    pub checks: std::collections::BTreeMap<String, HealthCheck>,
    pub store: StoreStats,
    pub ingest: IngestStats,
    #[serde(default)]
    pub live: LiveStats,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HealthCheck {
    /// `ok`, `warn` (degraded) or `error`.
    pub status: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// What one retention run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub executions: u64,
    pub logs: u64,
    pub samples: u64,
    /// The cutoff moved past the age limit to bring the store under its size limit.
    #[serde(default)]
    pub by_size: bool,
    /// Bytes the file shrank by.
    #[serde(default)]
    pub reclaimed_bytes: u64,
}

/// The WebSocket side of Observatory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LiveStats {
    pub connections: u64,
    /// Slow clients told to resync since start.
    pub resyncs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StoreStats {
    pub backend: String,
    pub size_bytes: u64,
    pub executions: u64,
    pub log_records: u64,
    pub last_retention_run: Option<i64>,
    pub retention_seconds: u64,
    /// The size limit (`retention_size`), none when 0.
    #[serde(default)]
    pub retention_max_bytes: u64,
    /// What the last retention run deleted.
    #[serde(default)]
    pub last_retention: Option<RetentionReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IngestStats {
    pub events_accepted: u64,
    pub events_rejected: u64,
    pub batches_rejected_overload: u64,
    pub queue_depth: u64,
    pub queue_capacity: u64,
}

/// One agent with its most recent executions (`GET /api/agents/:id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AgentDetail {
    pub agent: Agent,
    pub recent_executions: Vec<super::Execution>,
}

/// One workflow with its most recent executions (`GET /api/workflows/:id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WorkflowDetail {
    pub workflow: super::Workflow,
    pub recent_executions: Vec<super::Execution>,
}

/// One execution with what its page shows besides the logs (`GET /api/executions/:id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ExecutionDetail {
    pub execution: super::Execution,
    pub agent_name: String,
    /// Resource samples, oldest first (kept in memory while the execution is recent).
    pub resources: Vec<super::ResourceSample>,
}
