use super::{AgentState, Attributes, ExecutionStatus, Labels, LogLevel};
use serde::{Deserialize, Serialize};

/// An agent and its running totals (a superset of MoFA's `AgentMetrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Agent {
    pub id: String,
    pub name: String,
    /// Kind or framework, e.g. `research`, `langgraph`.
    pub kind: String,
    pub version: String,
    pub labels: Labels,
    pub state: AgentState,
    /// When the agent was last heard from (ms).
    pub last_seen: i64,
    pub tasks_completed: u64,
    pub tasks_failed: u64,
    pub tasks_cancelled: u64,
    pub tasks_in_progress: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub avg_task_duration_ms: f64,
    pub p95_task_duration_ms: f64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

impl Agent {
    /// Share of finished tasks that failed, in percent.
    pub fn error_rate(&self) -> f64 {
        let done = self.tasks_completed + self.tasks_failed;
        if done == 0 {
            0.0
        } else {
            self.tasks_failed as f64 * 100.0 / done as f64
        }
    }
}

/// One run of an agent on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Execution {
    pub id: String,
    pub agent_id: String,
    pub workflow_id: Option<String>,
    pub status: ExecutionStatus,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<u64>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub trace_id: Option<String>,
    /// Number of log lines so far; the next line gets `log_count + 1` as its `seq`.
    pub log_count: u64,
    pub llm_calls: u64,
    pub tool_calls: u64,
    pub updated_at: i64,
    /// The conversation this run is a turn of (`session.id`, `gen_ai.conversation.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The end user it ran for (`user.id`, `enduser.id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// `deployment.environment.name` (or the older `deployment.environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Execution {
    /// Duration so far: final when ended, elapsed until `now` while running.
    pub fn elapsed_ms(&self, now: i64) -> Option<u64> {
        if let Some(d) = self.duration_ms {
            return Some(d);
        }
        self.started_at.map(|s| now.saturating_sub(s).max(0) as u64)
    }
}

/// One log line of an execution. `seq` starts at 1 and has no gaps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub execution_id: String,
    pub seq: u64,
    pub timestamp: i64,
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

/// One call to a language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LlmCall {
    pub timestamp: i64,
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Parts of `tokens_in` read from and written to the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_creation_tokens: u64,
    /// The part of `tokens_out` spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub error: Option<String>,
    pub cost_usd: f64,
}

/// One call of a tool (or plugin) by an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ToolCall {
    pub timestamp: i64,
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub name: String,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// Running totals per LLM provider and model (a superset of MoFA's `LLMMetrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LlmStats {
    /// `provider/model`.
    pub id: String,
    pub provider: String,
    pub model: String,
    pub total_requests: u64,
    pub successful_requests: u64,
    pub failed_requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Parts of `prompt_tokens` read from and written to the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    #[serde(default)]
    pub cache_creation_tokens: u64,
    /// The part of `completion_tokens` spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub avg_latency_ms: f64,
    pub p95_latency_ms: f64,
    pub time_to_first_token_ms: Option<f64>,
    pub tokens_per_second: Option<f64>,
    pub requests_per_minute: f64,
    /// Percent of requests that failed.
    pub error_rate: f64,
    pub cost_usd: f64,
    pub last_request: i64,
}

/// A tool or plugin and its totals (a superset of MoFA's `PluginMetrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Plugin {
    pub id: String,
    pub name: String,
    pub version: String,
    pub state: String,
    pub call_count: u64,
    pub error_count: u64,
    pub avg_response_time_ms: f64,
    pub last_call: Option<i64>,
    pub last_reload: Option<i64>,
    pub reload_count: u64,
}

/// A workflow and its totals (a superset of MoFA's `WorkflowMetrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub total_executions: u64,
    pub successful_executions: u64,
    pub failed_executions: u64,
    pub running_instances: u64,
    pub avg_execution_time_ms: f64,
    pub node_count: u64,
    pub last_run: Option<i64>,
}

/// Resource use of one execution or agent at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ResourceSample {
    pub timestamp: i64,
    pub execution_id: Option<String>,
    pub agent_id: Option<String>,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
}

/// The host at one moment (a superset of MoFA's `SystemMetrics`, in bytes, not MB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SystemSample {
    pub timestamp: i64,
    pub host: String,
    pub cpu_percent: f64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
    pub uptime_seconds: u64,
    /// Processes (or goroutines / tasks, for agents that report them).
    pub tasks: u64,
}

/// What the sessions and users pages group executions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Session,
    User,
}

impl GroupBy {
    /// The executions column holding the group's id.
    pub fn column(self) -> &'static str {
        match self {
            GroupBy::Session => "session_id",
            GroupBy::User => "user_id",
        }
    }
}

/// A session (a conversation) or a user, and the totals of its executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunGroup {
    pub id: String,
    pub executions: u64,
    pub failed: u64,
    pub running: u64,
    pub cost_usd: f64,
    pub tokens: u64,
    /// Sum of the executions' durations (ms).
    pub duration_ms: u64,
    pub first_at: i64,
    /// Last activity: the latest update of any of its executions.
    pub last_at: i64,
    /// The agents that ran in it (a few, by name).
    pub agents: Vec<String>,
}

/// A named query, listed in the sidebar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedView {
    pub name: String,
    pub query: String,
    pub created_by: String,
    pub created_at: i64,
}

/// A session or a user: its totals and its executions (a session's turns, first first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    pub summary: RunGroup,
    pub executions: Vec<Execution>,
}

/// Saves a named query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveViewRequest {
    pub name: String,
    pub query: String,
}
