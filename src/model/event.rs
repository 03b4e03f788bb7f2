//! Native ingest events: what producers without OpenTelemetry send to `POST /api/v1/events`,
//! and what the in-process collector and the demo simulator feed the same pipeline.
//!
//! Each event is a JSON object with a `type` field. Fields are snake_case; ids are strings;
//! `timestamp` fields are milliseconds since the epoch and default to the time of ingest.

use super::{AgentState, Attributes, ExecutionStatus, Labels, LogLevel, Span};
use crate::error::FieldError;
use serde::{Deserialize, Serialize};

/// One native event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Agent(AgentEvent),
    Execution(ExecutionEvent),
    Status(StatusEvent),
    Log(LogEvent),
    Resource(ResourceEvent),
    LlmCall(LlmCallEvent),
    ToolCall(ToolCallEvent),
    Workflow(WorkflowEvent),
    Plugin(PluginEvent),
    System(SystemEvent),
    Span(Box<SpanEvent>),
    LlmUsage(LlmUsageEvent),
}

/// Most attributes a span keeps, and the longest attribute value (longer ones are cut by the
/// OTLP receiver and refused from native producers).
pub const MAX_SPAN_ATTRIBUTES: usize = 256;

/// Every `type` an event may have, in the order the README documents them.
pub const EVENT_TYPES: [&str; 12] = [
    "agent",
    "execution",
    "status",
    "log",
    "resource",
    "llm_call",
    "tool_call",
    "workflow",
    "plugin",
    "system",
    "span",
    "llm_usage",
];

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

/// Bounds every item must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_id_len: usize,
    pub max_text_len: usize,
    pub max_attributes: usize,
    pub max_attribute_len: usize,
    /// Most distinct agents kept: events that would add one more are refused (400 naming
    /// `max_agents`), so a misbehaving producer cannot grow memory and every per-agent series
    /// without bound.
    #[serde(default = "default_max_agents")]
    pub max_agents: usize,
}

fn default_max_agents() -> usize {
    50_000
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_id_len: 256,
            max_text_len: 64 * 1024,
            max_attributes: 64,
            max_attribute_len: 4096,
            max_agents: default_max_agents(),
        }
    }
}

impl Event {
    /// The agent this event names, if any.
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            Event::Agent(a) => Some(&a.id),
            Event::Execution(e) => Some(&e.agent_id),
            Event::Span(s) => Some(&s.agent_id),
            Event::Log(e) => e.agent_id.as_deref(),
            Event::Resource(e) => e.agent_id.as_deref(),
            Event::LlmCall(e) => e.agent_id.as_deref(),
            Event::ToolCall(e) => e.agent_id.as_deref(),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Agent(_) => "agent",
            Event::Execution(_) => "execution",
            Event::Status(_) => "status",
            Event::Log(_) => "log",
            Event::Resource(_) => "resource",
            Event::LlmCall(_) => "llm_call",
            Event::ToolCall(_) => "tool_call",
            Event::Workflow(_) => "workflow",
            Event::Plugin(_) => "plugin",
            Event::System(_) => "system",
            Event::Span(_) => "span",
            Event::LlmUsage(_) => "llm_usage",
        }
    }

    /// Checks what serde cannot: non-empty ids, lengths, ranges. Returns every problem found.
    pub fn validate(&self, limits: &Limits) -> Vec<FieldError> {
        let mut v = Validator {
            limits,
            errors: Vec::new(),
        };
        match self {
            Event::Agent(e) => {
                v.id("id", &e.id);
                v.opt_text("name", &e.name, limits.max_id_len);
                v.opt_text("kind", &e.kind, limits.max_id_len);
                v.opt_text("version", &e.version, limits.max_id_len);
                v.labels(&e.labels);
                v.opt_non_negative("avg_task_duration_ms", e.avg_task_duration_ms);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Execution(e) => {
                v.id("id", &e.id);
                v.id("agent_id", &e.agent_id);
                v.opt_id("workflow_id", &e.workflow_id);
                v.opt_text("input", &e.input, limits.max_text_len);
                v.opt_text("output", &e.output, limits.max_text_len);
                v.opt_text("error", &e.error, limits.max_text_len);
                v.opt_id("trace_id", &e.trace_id);
                v.opt_ts("started_at", e.started_at);
                v.opt_ts("ended_at", e.ended_at);
                v.opt_ts("timestamp", e.timestamp);
                if let (Some(s), Some(en)) = (e.started_at, e.ended_at) {
                    if en < s {
                        v.push("ended_at", "must not be before started_at");
                    }
                }
            }
            Event::Status(e) => {
                v.id("execution_id", &e.execution_id);
                v.opt_text("error", &e.error, limits.max_text_len);
                v.opt_text("output", &e.output, limits.max_text_len);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Log(e) => {
                v.id("execution_id", &e.execution_id);
                v.opt_id("agent_id", &e.agent_id);
                v.text("message", &e.message, limits.max_text_len);
                v.attributes(&e.attributes);
                v.opt_id("trace_id", &e.trace_id);
                v.opt_id("span_id", &e.span_id);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Resource(e) => {
                v.opt_id("execution_id", &e.execution_id);
                v.opt_id("agent_id", &e.agent_id);
                if e.execution_id.is_none() && e.agent_id.is_none() {
                    v.push("execution_id", "a resource sample needs execution_id or agent_id");
                }
                v.non_negative("cpu_percent", e.cpu_percent);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::LlmCall(e) => {
                v.opt_id("execution_id", &e.execution_id);
                v.opt_id("agent_id", &e.agent_id);
                v.id("provider", &e.provider);
                v.id("model", &e.model);
                v.non_negative("latency_ms", e.latency_ms);
                v.opt_non_negative("ttft_ms", e.ttft_ms);
                v.opt_non_negative("cost_usd", e.cost_usd);
                v.opt_text("error", &e.error, limits.max_text_len);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::ToolCall(e) => {
                v.opt_id("execution_id", &e.execution_id);
                v.opt_id("agent_id", &e.agent_id);
                v.id("name", &e.name);
                v.opt_id("version", &e.version);
                v.non_negative("latency_ms", e.latency_ms);
                v.opt_text("error", &e.error, limits.max_text_len);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Workflow(e) => {
                v.id("id", &e.id);
                v.opt_text("name", &e.name, limits.max_id_len);
                v.opt_text("status", &e.status, limits.max_id_len);
                v.opt_non_negative("avg_execution_time_ms", e.avg_execution_time_ms);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Plugin(e) => {
                v.id("id", &e.id);
                v.opt_text("name", &e.name, limits.max_id_len);
                v.opt_text("version", &e.version, limits.max_id_len);
                v.opt_text("state", &e.state, limits.max_id_len);
                v.opt_non_negative("avg_response_time_ms", e.avg_response_time_ms);
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::System(e) => {
                v.id("host", &e.host);
                v.non_negative("cpu_percent", e.cpu_percent);
                if e.memory_used_bytes > e.memory_total_bytes {
                    v.push("memory_used_bytes", "must not exceed memory_total_bytes");
                }
                v.opt_ts("timestamp", e.timestamp);
            }
            Event::Span(e) => {
                let s = &e.span;
                v.id("agent_id", &e.agent_id);
                v.id("span.trace_id", &s.trace_id);
                v.id("span.span_id", &s.span_id);
                v.opt_id("span.parent_span_id", &s.parent_span_id);
                v.id("span.execution_id", &s.execution_id);
                v.text("span.name", &s.name, limits.max_text_len);
                v.opt_ts("span.start_unix_nano", Some((s.start_unix_nano / 1_000_000) as i64));
                if s.end_unix_nano < s.start_unix_nano {
                    v.push("span.end_unix_nano", "must not be before start_unix_nano");
                }
                if s.attributes.len() > MAX_SPAN_ATTRIBUTES {
                    v.push(
                        "span.attributes",
                        format!("has {} entries; the limit is {MAX_SPAN_ATTRIBUTES}", s.attributes.len()),
                    );
                }
                for (k, val) in s
                    .attributes
                    .iter()
                    .chain(s.events.iter().flat_map(|e| e.attributes.iter()))
                {
                    let len = match val {
                        serde_json::Value::String(s) => s.len(),
                        other => other.to_string().len(),
                    };
                    if len > limits.max_text_len {
                        v.push(
                            &format!("span.attributes.{}", truncate(k)),
                            format!("value is {len} bytes long; the limit is {}", limits.max_text_len),
                        );
                    }
                }
                v.opt_id("span.model", &s.model);
                v.opt_id("span.provider", &s.provider);
                v.opt_id("span.tool_name", &s.tool_name);
                v.opt_non_negative("span.cost_usd", s.cost_usd);
                v.opt_non_negative("span.ttft_ms", s.ttft_ms);
            }
            Event::LlmUsage(e) => {
                v.id("provider", &e.provider);
                v.id("model", &e.model);
                v.non_negative("latency_ms_sum", e.latency_ms_sum);
                v.opt_ts("timestamp", e.timestamp);
            }
        }
        v.errors
    }
}

/// Whether `s` holds a control character (C0, DEL, C1). A byte scan clears most strings
/// without decoding them: C1 characters (U+0080..U+009F) start with the byte 0xC2.
pub fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) && s.chars().any(char::is_control)
}

struct Validator<'a> {
    limits: &'a Limits,
    errors: Vec<FieldError>,
}

impl Validator<'_> {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            index: None,
            field: field.to_string(),
            message: message.into(),
        });
    }
    fn id(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(field, "must be a non-empty string");
        } else if value.len() > self.limits.max_id_len {
            self.push(
                field,
                format!("is {} bytes long; the limit is {}", value.len(), self.limits.max_id_len),
            );
        } else if has_control(value) {
            self.push(field, "must not contain control characters");
        }
    }
    fn opt_id(&mut self, field: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.id(field, v);
        }
    }
    fn text(&mut self, field: &str, value: &str, limit: usize) {
        if value.len() > limit {
            self.push(field, format!("is {} bytes long; the limit is {limit}", value.len()));
        }
    }
    fn opt_text(&mut self, field: &str, value: &Option<String>, limit: usize) {
        if let Some(v) = value {
            self.text(field, v, limit);
        }
    }
    fn non_negative(&mut self, field: &str, value: f64) {
        if !value.is_finite() || value < 0.0 {
            self.push(field, format!("must be a finite number ≥ 0, got {value}"));
        }
    }
    fn opt_non_negative(&mut self, field: &str, value: Option<f64>) {
        if let Some(v) = value {
            self.non_negative(field, v);
        }
    }
    fn opt_ts(&mut self, field: &str, value: Option<i64>) {
        // Between 2000-01-01 and 2200-01-01, in milliseconds: catches seconds and nanoseconds.
        if let Some(v) = value {
            if !(946_684_800_000..=7_258_118_400_000).contains(&v) {
                self.push(field, format!("must be milliseconds since the Unix epoch, got {v}"));
            }
        }
    }
    fn labels(&mut self, labels: &Labels) {
        if labels.len() > self.limits.max_attributes {
            self.push(
                "labels",
                format!(
                    "has {} entries; the limit is {}",
                    labels.len(),
                    self.limits.max_attributes
                ),
            );
        }
        for (k, val) in labels {
            if k.is_empty() || k.len() > self.limits.max_id_len {
                self.push(
                    "labels",
                    format!("key `{}` must be 1 to {} bytes", truncate(k), self.limits.max_id_len),
                );
            }
            if val.len() > self.limits.max_attribute_len {
                self.push(
                    &format!("labels.{}", truncate(k)),
                    format!(
                        "value is {} bytes long; the limit is {}",
                        val.len(),
                        self.limits.max_attribute_len
                    ),
                );
            }
        }
    }
    fn attributes(&mut self, attrs: &Attributes) {
        if attrs.len() > self.limits.max_attributes {
            self.push(
                "attributes",
                format!(
                    "has {} entries; the limit is {}",
                    attrs.len(),
                    self.limits.max_attributes
                ),
            );
        }
        for (k, val) in attrs {
            if k.is_empty() || k.len() > self.limits.max_id_len {
                self.push(
                    "attributes",
                    format!("key `{}` must be 1 to {} bytes", truncate(k), self.limits.max_id_len),
                );
            }
            let len = match val {
                serde_json::Value::String(s) => s.len(),
                other => other.to_string().len(),
            };
            if len > self.limits.max_attribute_len {
                self.push(
                    &format!("attributes.{}", truncate(k)),
                    format!(
                        "value is {len} bytes long; the limit is {}",
                        self.limits.max_attribute_len
                    ),
                );
            }
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(msg: &str) -> Event {
        Event::Log(LogEvent {
            execution_id: "e1".into(),
            message: msg.into(),
            ..Default::default()
        })
    }

    #[test]
    fn events_round_trip_with_a_type_tag() {
        let json = r#"{"type":"llm_call","provider":"openai","model":"gpt-4o","tokens_in":10,"tokens_out":5,"latency_ms":120.5}"#;
        let ev: Event = serde_json::from_str(json).unwrap();
        assert_eq!(ev.type_name(), "llm_call");
        let back = serde_json::to_value(&ev).unwrap();
        assert_eq!(back["type"], "llm_call");
        assert_eq!(back["tokens_in"], 10);
    }

    #[test]
    fn valid_log_passes() {
        assert!(log("hello").validate(&Limits::default()).is_empty());
    }

    #[test]
    fn empty_ids_and_long_text_are_named() {
        let limits = Limits {
            max_text_len: 4,
            ..Limits::default()
        };
        let ev = Event::Log(LogEvent {
            execution_id: " ".into(),
            message: "too long".into(),
            ..Default::default()
        });
        let errors = ev.validate(&limits);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["execution_id", "message"]);
        assert!(errors[1].message.contains("limit is 4"));
    }

    #[test]
    fn timestamps_in_seconds_are_rejected() {
        let ev = Event::Status(StatusEvent {
            execution_id: "e".into(),
            status: ExecutionStatus::Running,
            timestamp: Some(1_700_000_000),
            ..Default::default()
        });
        let errors = ev.validate(&Limits::default());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "timestamp");
    }

    #[test]
    fn negative_latency_and_orphan_resource_are_rejected() {
        let ev = Event::ToolCall(ToolCallEvent {
            name: "search".into(),
            latency_ms: -1.0,
            ..Default::default()
        });
        assert_eq!(ev.validate(&Limits::default())[0].field, "latency_ms");
        let ev = Event::Resource(ResourceEvent {
            cpu_percent: 1.0,
            ..Default::default()
        });
        assert_eq!(ev.validate(&Limits::default())[0].field, "execution_id");
    }

    #[test]
    fn too_many_attributes_is_named() {
        let mut attributes = Attributes::new();
        for i in 0..3 {
            attributes.insert(format!("k{i}"), serde_json::json!(i));
        }
        let ev = Event::Log(LogEvent {
            execution_id: "e".into(),
            message: "m".into(),
            attributes,
            ..Default::default()
        });
        let limits = Limits {
            max_attributes: 2,
            ..Limits::default()
        };
        assert_eq!(ev.validate(&limits)[0].field, "attributes");
    }
}
