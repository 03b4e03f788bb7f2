//! One struct per kind of event, as producers send it.

use crate::model::{AgentState, Attributes, ExecutionStatus, Labels, LogLevel, Span};
use serde::{Deserialize, Serialize};

/// An agent announces itself or reports its state. Counters, when given, replace the
/// server's (MoFA's `update_agent` semantics); otherwise they are derived from executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentEvent {
    #[serde(alias = "agent_id")]
    pub id: String,
    pub name: Option<String>,
    #[serde(alias = "framework")]
    pub kind: Option<String>,
    pub version: Option<String>,
    #[serde(default)]
    pub labels: Labels,
    pub state: Option<AgentState>,
    pub tasks_completed: Option<u64>,
    pub tasks_failed: Option<u64>,
    pub tasks_in_progress: Option<u64>,
    pub messages_sent: Option<u64>,
    pub messages_received: Option<u64>,
    /// MoFA sends `last_activity` in seconds; accepted and ignored in favour of ingest time.
    pub last_activity: Option<u64>,
    pub avg_task_duration_ms: Option<f64>,
    pub timestamp: Option<i64>,
}

/// An execution is created or updated. Unknown agents are created on the fly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutionEvent {
    #[serde(alias = "execution_id")]
    pub id: String,
    pub agent_id: String,
    pub workflow_id: Option<String>,
    pub status: Option<ExecutionStatus>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub trace_id: Option<String>,
    pub timestamp: Option<i64>,
    /// The conversation this run is a turn of.
    #[serde(default, alias = "conversation_id", skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The end user it runs for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The deployment environment (`production`, `staging` …).
    #[serde(default, alias = "env", skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

/// An execution changes status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StatusEvent {
    pub execution_id: String,
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub output: Option<String>,
    pub timestamp: Option<i64>,
}

/// A log line of an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogEvent {
    pub execution_id: String,
    /// The agent of the execution, used when the log line creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub level: LogLevel,
    pub message: String,
    #[serde(default)]
    pub attributes: Attributes,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub timestamp: Option<i64>,
}

/// Resource use of an execution or an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceEvent {
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub timestamp: Option<i64>,
}

/// One LLM call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LlmCallEvent {
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub provider: String,
    pub model: String,
    #[serde(default, alias = "prompt_tokens")]
    pub tokens_in: u64,
    #[serde(default, alias = "completion_tokens")]
    pub tokens_out: u64,
    /// The part of `tokens_in` read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// The part of `tokens_in` written to the provider's prompt cache.
    #[serde(default)]
    pub cache_creation_tokens: u64,
    /// The part of `tokens_out` spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub latency_ms: f64,
    #[serde(alias = "time_to_first_token_ms")]
    pub ttft_ms: Option<f64>,
    pub error: Option<String>,
    /// Cost in USD; computed from the price table when absent.
    pub cost_usd: Option<f64>,
    pub timestamp: Option<i64>,
}

/// One tool (or plugin) call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ToolCallEvent {
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub latency_ms: f64,
    pub error: Option<String>,
    pub timestamp: Option<i64>,
}

/// A workflow is defined or reports its state. Counters, when given, replace the server's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkflowEvent {
    #[serde(alias = "workflow_id")]
    pub id: String,
    pub name: Option<String>,
    pub status: Option<String>,
    pub node_count: Option<u64>,
    pub total_executions: Option<u64>,
    pub successful_executions: Option<u64>,
    pub failed_executions: Option<u64>,
    pub running_instances: Option<u64>,
    pub avg_execution_time_ms: Option<f64>,
    pub timestamp: Option<i64>,
}

/// A plugin is registered, changes state or is reloaded. Counters, when given, replace the server's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PluginEvent {
    #[serde(alias = "plugin_id")]
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub state: Option<String>,
    /// True when this event reports a reload.
    #[serde(default)]
    pub reloaded: bool,
    pub call_count: Option<u64>,
    pub error_count: Option<u64>,
    pub avg_response_time_ms: Option<f64>,
    pub timestamp: Option<i64>,
}

/// A host sample sent by an agent host (Observatory samples its own host itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SystemEvent {
    pub host: String,
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    #[serde(default)]
    pub disk_used_bytes: u64,
    #[serde(default)]
    pub disk_total_bytes: u64,
    #[serde(default)]
    pub network_rx_bytes: u64,
    #[serde(default)]
    pub network_tx_bytes: u64,
    #[serde(default)]
    pub uptime_seconds: u64,
    #[serde(default)]
    pub tasks: u64,
    pub timestamp: Option<i64>,
}

/// A span of a trace (OpenTelemetry, or native). A span of an unknown execution creates it,
/// RUNNING; the root span (no parent) completes it with the span's end and status. LLM and
/// tool spans also count as LLM and tool calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SpanEvent {
    pub span: Span,
    /// The agent of the span's execution.
    pub agent_id: String,
    /// True when `agent_id` is only a fallback (the service name): the first span that names
    /// the agent (`gen_ai.agent.*`) moves the execution to that agent.
    #[serde(default)]
    pub agent_provisional: bool,
}

/// Aggregated LLM usage over an interval, from the `gen_ai.client.token.usage` and
/// `gen_ai.client.operation.duration` metrics. It feeds the per-model view only for models no
/// span or `llm_call` reports (so nothing is counted twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LlmUsageEvent {
    pub provider: String,
    pub model: String,
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub failed_requests: u64,
    #[serde(default)]
    pub tokens_in: u64,
    #[serde(default)]
    pub tokens_out: u64,
    /// Sum of the durations of `requests` calls, ms.
    #[serde(default)]
    pub latency_ms_sum: f64,
    pub timestamp: Option<i64>,
}
