//! Native ingest events: what producers without OpenTelemetry send to `POST /api/v1/events`,
//! and what the in-process collector and the demo simulator feed the same pipeline.
//!
//! Each event is a JSON object with a `type` field. Fields are snake_case; ids are strings;
//! `timestamp` fields are milliseconds since the epoch and default to the time of ingest.
//!
//! - `kinds.rs`: one struct per kind of event, as it arrives;
//! - `records.rs`: what the hub keeps of an event, once its time and cost are known;
//! - `limits.rs` and `validate.rs`: the bounds every item respects, and the checks.

mod kinds;
mod limits;
mod records;
mod validate;

pub use kinds::*;
pub use limits::Limits;
pub use validate::has_control;

use serde::{Deserialize, Serialize};

/// Most attributes a span keeps, and the longest attribute value (longer ones are cut by the
/// OTLP receiver and refused from native producers).
pub const MAX_SPAN_ATTRIBUTES: usize = 256;

/// The kinds of event, each once: its variant, its struct and its `type` on the wire. Makes
/// [`Event`], [`EVENT_TYPES`] and [`Event::type_name`].
macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident($kind:ty) = $name:literal,)*) => {
        /// One native event.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum Event {
            $($(#[$doc])* #[serde(rename = $name)] $variant($kind),)*
        }

        /// Every `type` an event may have, in the order the README documents them.
        pub const EVENT_TYPES: [&str; [$($name),*].len()] = [$($name),*];

        impl Event {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Event::$variant(_) => $name,)*
                }
            }
        }
    };
}

events! {
    Agent(AgentEvent) = "agent",
    Execution(ExecutionEvent) = "execution",
    Status(StatusEvent) = "status",
    Log(LogEvent) = "log",
    Resource(ResourceEvent) = "resource",
    LlmCall(LlmCallEvent) = "llm_call",
    ToolCall(ToolCallEvent) = "tool_call",
    Workflow(WorkflowEvent) = "workflow",
    Plugin(PluginEvent) = "plugin",
    System(SystemEvent) = "system",
    Span(Box<SpanEvent>) = "span",
    LlmUsage(LlmUsageEvent) = "llm_usage",
}

impl Event {
    /// When the producer says it happened (ms), if it says.
    pub fn timestamp(&self) -> Option<i64> {
        match self {
            Event::Agent(e) => e.timestamp,
            Event::Execution(e) => e.timestamp,
            Event::Status(e) => e.timestamp,
            Event::Log(e) => e.timestamp,
            Event::Resource(e) => e.timestamp,
            Event::LlmCall(e) => e.timestamp,
            Event::ToolCall(e) => e.timestamp,
            Event::Workflow(e) => e.timestamp,
            Event::Plugin(e) => e.timestamp,
            Event::System(e) => e.timestamp,
            Event::Span(e) => Some((e.span.end_unix_nano.max(e.span.start_unix_nano) / 1_000_000) as i64),
            Event::LlmUsage(e) => e.timestamp,
        }
    }

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
}
