//! Spans of a trace, as the execution waterfall shows them. OpenTelemetry spans arrive
//! through OTLP; native producers may send them as `span` events.

use super::Attributes;
use serde::{Deserialize, Serialize};

/// Most spans of one trace the API returns and the waterfall shows (the earliest by start).
pub const MAX_TRACE_SPANS: u64 = 10_000;

/// What a span stands for in the agent model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpanCategory {
    /// `invoke_agent`, `create_agent`: an agent at work.
    Agent,
    /// `chat`, `text_completion`, `generate_content`, `embeddings`: a model call.
    Llm,
    /// `execute_tool`.
    Tool,
    /// `invoke_workflow`.
    Workflow,
    /// Any other span, GenAI (`retrieval`, `plan`, …) or not (HTTP, database, …).
    #[default]
    Other,
}

impl SpanCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanCategory::Agent => "agent",
            SpanCategory::Llm => "llm",
            SpanCategory::Tool => "tool",
            SpanCategory::Workflow => "workflow",
            SpanCategory::Other => "other",
        }
    }

    /// The category of a GenAI operation name (`gen_ai.operation.name`).
    pub fn of_operation(op: &str) -> Self {
        match op {
            "invoke_agent" | "create_agent" => SpanCategory::Agent,
            "chat" | "text_completion" | "generate_content" | "embeddings" => SpanCategory::Llm,
            "execute_tool" => SpanCategory::Tool,
            "invoke_workflow" => SpanCategory::Workflow,
            _ => SpanCategory::Other,
        }
    }
}

impl std::str::FromStr for SpanCategory {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "agent" => SpanCategory::Agent,
            "llm" => SpanCategory::Llm,
            "tool" => SpanCategory::Tool,
            "workflow" => SpanCategory::Workflow,
            "other" => SpanCategory::Other,
            other => return Err(format!("unknown span category `{other}`")),
        })
    }
}

/// The status of a span (OpenTelemetry's `Status.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
    #[default]
    Unset,
    Ok,
    Error,
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

impl std::str::FromStr for SpanStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unset" => SpanStatus::Unset,
            "ok" => SpanStatus::Ok,
            "error" => SpanStatus::Error,
            other => return Err(format!("unknown span status `{other}`")),
        })
    }
}

/// A timestamped annotation of a span (e.g. `gen_ai.user.message`, `exception`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SpanEventRecord {
    pub name: String,
    pub time_unix_nano: u64,
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// One span. Times are nanoseconds since the Unix epoch (exact) and, for the browser,
/// `start_ms` / `duration_ms` in milliseconds with sub-microsecond precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// None for the root span of a trace.
    #[serde(default)]
    pub parent_span_id: Option<String>,
    /// The parent is in another service (OTLP's is-remote flag, set when the span was started
    /// from propagated context): this span is the root of the part of the trace seen here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote_parent: bool,
    /// The execution the span belongs to (for OTLP, the trace id).
    pub execution_id: String,
    pub name: String,
    /// agent / llm / tool / workflow / other.
    #[serde(default)]
    pub category: SpanCategory,
    /// OpenTelemetry's span kind: internal, server, client, producer, consumer, unspecified.
    #[serde(default = "internal")]
    pub span_kind: String,
    /// The GenAI operation (`gen_ai.operation.name`, else the span name's first word when it
    /// is a known operation); None for spans without GenAI meaning.
    #[serde(default)]
    pub operation: Option<String>,
    /// `service.name` of the resource that sent the span.
    #[serde(default)]
    pub service: Option<String>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Start in ms since the epoch, fractional.
    #[serde(default)]
    pub start_ms: f64,
    /// End minus start, in ms, fractional.
    #[serde(default)]
    pub duration_ms: f64,
    #[serde(default)]
    pub status: SpanStatus,
    /// The status message, or `error.type` when the span failed without one.
    #[serde(default)]
    pub status_message: Option<String>,
    /// Span attributes, `gen_ai.*` included, values as JSON.
    #[serde(default)]
    pub attributes: Attributes,
    /// The attributes already encoded as a JSON object, keys sorted (the OTLP mapper encodes
    /// them once, straight from the protobuf, and leaves `attributes` empty). Never sent over
    /// the wire; the store writes it as is and reads it back into `attributes`.
    #[serde(skip)]
    pub attributes_json: Option<String>,
    #[serde(default)]
    pub events: Vec<SpanEventRecord>,
    /// Agent name (`gen_ai.agent.name`, else `gen_ai.agent.id`) of agent spans.
    #[serde(default)]
    pub agent_name: Option<String>,
    /// LLM spans: `gen_ai.provider.name` (or the deprecated `gen_ai.system`).
    #[serde(default)]
    pub provider: Option<String>,
    /// LLM spans: `gen_ai.response.model`, else `gen_ai.request.model`.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub tokens_in: Option<u64>,
    #[serde(default)]
    pub tokens_out: Option<u64>,
    /// LLM spans: the part of `tokens_in` read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: Option<u64>,
    /// LLM spans: the part of `tokens_in` written to the provider's prompt cache.
    #[serde(default)]
    pub cache_creation_tokens: Option<u64>,
    /// LLM spans: the part of `tokens_out` spent on reasoning.
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
    /// Cost in USD from the price table (LLM spans).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Time to first token, ms (LLM spans, when reported).
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    /// Tool spans: `gen_ai.tool.name`.
    #[serde(default)]
    pub tool_name: Option<String>,
    /// The conversation, end user and environment the span ran in ([`SESSION_KEYS`],
    /// [`USER_KEYS`], [`ENVIRONMENT_KEYS`], of the span or else of its resource).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// What the span's attributes add to the search index, worked out where the span was
    /// decoded (OTLP: per request, in parallel, from the protobuf) so the one pipeline task
    /// does not decode them again; None elsewhere (derived from `attributes` then).
    #[serde(skip)]
    pub search: Option<Box<SpanSearch>>,
}

/// A span's share of the search index from its attributes and events: exact terms
/// (`attr.KEY=VALUE`, `error=TYPE`), text to find, error text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanSearch {
    pub terms: Vec<String>,
    pub text: String,
    pub error: String,
}

/// Attributes naming the conversation a run is a turn of, first found wins.
pub const SESSION_KEYS: &[&str] = &["session.id", "gen_ai.conversation.id"];
/// Attributes naming the end user a run served.
pub const USER_KEYS: &[&str] = &["user.id", "enduser.id"];
/// Attributes naming the deployment environment (the older name last).
pub const ENVIRONMENT_KEYS: &[&str] = &["deployment.environment.name", "deployment.environment"];

/// The first of `keys` in `attributes` with a non-empty text or number value, as text.
pub fn first_attribute(attributes: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match attributes.get(*k)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn internal() -> String {
    "internal".into()
}

impl Span {
    /// Fills `start_ms` and `duration_ms` from the nanosecond times.
    pub fn set_ms(&mut self) {
        self.start_ms = self.start_unix_nano as f64 / 1e6;
        self.duration_ms = self.end_unix_nano.saturating_sub(self.start_unix_nano) as f64 / 1e6;
    }

    /// The trace's root, or the root of its part in this service (its parent is remote).
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none() || self.remote_parent
    }

    pub fn failed(&self) -> bool {
        self.status == SpanStatus::Error
    }

    /// One attribute, from `attributes` or else from `attributes_json`.
    pub fn attribute(&self, key: &str) -> Option<serde_json::Value> {
        if let Some(v) = self.attributes.get(key) {
            return Some(v.clone());
        }
        let json = self.attributes_json.as_deref()?;
        let mut all: Attributes = serde_json::from_str(json).ok()?;
        all.remove(key)
    }

    /// Fills the session, user and environment from the span's own attributes where unset.
    pub fn scope_from_attributes(&mut self) {
        let attributes = self.all_attributes();
        for (slot, keys) in [
            (&mut self.session_id, SESSION_KEYS),
            (&mut self.user_id, USER_KEYS),
            (&mut self.environment, ENVIRONMENT_KEYS),
        ] {
            if slot.is_none() {
                *slot = first_attribute(&attributes, keys);
            }
        }
    }

    /// Every attribute, decoded from `attributes_json` when the map is empty.
    pub fn all_attributes(&self) -> Attributes {
        match &self.attributes_json {
            Some(json) if self.attributes.is_empty() => serde_json::from_str(json).unwrap_or_default(),
            _ => self.attributes.clone(),
        }
    }
}

/// One row of the waterfall: a span, its depth in the tree, and whether it has children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    /// Index into the spans given to [`span_tree`].
    pub index: usize,
    pub depth: usize,
    pub children: usize,
}

/// The spans in tree order (each parent before its children, siblings by start time),
/// leaving out the descendants of the spans in `collapsed` (span ids). A span whose parent
/// has not arrived (yet) is shown as a root, so nothing is hidden while a trace streams in.
pub fn span_tree(spans: &[Span], collapsed: &std::collections::HashSet<String>) -> Vec<TreeRow> {
    use std::collections::HashMap;
    let ids: HashMap<&str, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id.as_str(), i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.as_deref().and_then(|p| ids.get(p)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let by_start = |v: &mut Vec<usize>| v.sort_by(|a, b| spans[*a].start_unix_nano.cmp(&spans[*b].start_unix_nano));
    by_start(&mut roots);
    children.iter_mut().for_each(by_start);
    let mut out = Vec::with_capacity(spans.len());
    // Depth-first without recursion: deep traces must not overflow the stack.
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    let mut seen = vec![false; spans.len()];
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        out.push(TreeRow {
            index: i,
            depth,
            children: children[i].len(),
        });
        if !collapsed.contains(&spans[i].span_id) {
            stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: u64) -> Span {
        Span {
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            start_unix_nano: start,
            end_unix_nano: start + 10,
            ..Default::default()
        }
    }

    #[test]
    fn the_tree_puts_children_after_parents_by_start_and_collapses() {
        let spans = vec![
            span("tool", Some("root"), 30),
            span("chat2", Some("root"), 20),
            span("root", None, 0),
            span("chat1", Some("root"), 10),
            span("http", Some("chat1"), 11),
            span("orphan", Some("not-yet"), 5),
        ];
        let names = |rows: Vec<TreeRow>| -> Vec<(String, usize)> {
            rows.iter().map(|r| (spans[r.index].span_id.clone(), r.depth)).collect()
        };
        let all = span_tree(&spans, &Default::default());
        assert_eq!(
            names(all.clone()),
            [
                ("root", 0),
                ("chat1", 1),
                ("http", 2),
                ("chat2", 1),
                ("tool", 1),
                ("orphan", 0)
            ]
            .map(|(n, d)| (n.to_string(), d))
        );
        assert_eq!(all[0].children, 3);
        let collapsed = ["chat1".to_string()].into_iter().collect();
        assert_eq!(span_tree(&spans, &collapsed).len(), 5, "http is folded under chat1");
        let collapsed = ["root".to_string()].into_iter().collect();
        assert_eq!(span_tree(&spans, &collapsed).len(), 2, "root and the orphan");
    }

    #[test]
    fn a_parent_cycle_does_not_loop() {
        let spans = vec![span("a", Some("b"), 0), span("b", Some("a"), 1)];
        assert!(span_tree(&spans, &Default::default()).len() <= 2);
    }

    #[test]
    fn milliseconds_keep_microseconds() {
        let mut s = Span {
            start_unix_nano: 1_700_000_000_123_456_789,
            end_unix_nano: 1_700_000_000_125_456_789,
            ..Default::default()
        };
        s.set_ms();
        assert!((s.start_ms - 1_700_000_000_123.457).abs() < 0.001);
        assert!((s.duration_ms - 2.0).abs() < 1e-9);
    }

    #[test]
    fn categories_of_operations() {
        assert_eq!(SpanCategory::of_operation("chat"), SpanCategory::Llm);
        assert_eq!(SpanCategory::of_operation("execute_tool"), SpanCategory::Tool);
        assert_eq!(SpanCategory::of_operation("invoke_agent"), SpanCategory::Agent);
        assert_eq!(SpanCategory::of_operation("GET"), SpanCategory::Other);
        assert_eq!("llm".parse::<SpanCategory>().unwrap(), SpanCategory::Llm);
    }
}
