//! What serde cannot check: non-empty ids, lengths, ranges, control characters.

use super::{Event, Limits, MAX_SPAN_ATTRIBUTES};

/// The largest amount one item may carry: durations (1e12 ms is 31 years), costs (USD),
/// percentages. Totals of amounts this size stay finite for longer than any store lives.
pub const MAX_AMOUNT: f64 = 1e12;
use crate::error::FieldError;
use crate::model::{Attributes, Labels};

impl Event {
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
                v.opt_id("session_id", &e.session_id);
                v.opt_id("user_id", &e.user_id);
                v.opt_id("environment", &e.environment);
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
                v.opt_id("span.session_id", &s.session_id);
                v.opt_id("span.user_id", &s.user_id);
                v.opt_id("span.environment", &s.environment);
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
    /// Amounts (milliseconds, USD, percent) are at most [`MAX_AMOUNT`], so that totals of
    /// them stay finite.
    fn non_negative(&mut self, field: &str, value: f64) {
        if !(0.0..=MAX_AMOUNT).contains(&value) {
            // 1e308 reads better than its 309 digits.
            let got = if value.abs() >= 1e15 {
                format!("{value:e}")
            } else {
                format!("{value}")
            };
            self.push(
                field,
                format!("must be a finite number from 0 to {MAX_AMOUNT}, got {got}"),
            );
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
    use crate::model::*;

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
