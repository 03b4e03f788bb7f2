//! OpenTelemetry → the model: pure functions from OTLP export requests to native events,
//! following the GenAI semantic conventions.
//!
//! - Every valid span becomes a [`SpanEvent`] of the execution whose id is the trace id; the
//!   hub creates that execution RUNNING at its first span and completes it at its root span.
//!   A span whose parent is flagged remote (started from context propagated by another
//!   service) counts as a root: the trace's root may be in a service that reports elsewhere.
//! - The agent of a trace comes from `gen_ai.agent.id` / `gen_ai.agent.name` of the root span,
//!   else (provisionally) of its earliest agent span, else the resource's `service.name`.
//! - Log records with a trace id become log lines of that trace's execution.
//! - The `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` histograms become
//!   [`LlmUsageEvent`]s (deltas; cumulative series are differenced by a [`Cumulative`]).
//!
//! Items that cannot be mapped are counted as rejected with a reason (OTLP partial success).

use crate::format::hex;
use crate::model::*;
use crate::server::ingest::redact;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as otel;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// GenAI operations (`gen_ai.operation.name`); a span name's first word counts only if listed.
pub const OPERATIONS: [&str; 14] = [
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "retrieval",
    "create_agent",
    "invoke_agent",
    "invoke_workflow",
    "plan",
    "execute_tool",
    "create_memory",
    "search_memory",
    "update_memory",
    "delete_memory",
];

/// The earliest and latest timestamps accepted (ms): 2000-01-01 to 2200-01-01.
const MIN_MS: u64 = 946_684_800_000;
const MAX_MS: u64 = 7_258_118_400_000;

/// What a request maps to: events to submit, and the items refused with the first reason.
#[derive(Debug, Default)]
pub struct Mapped {
    pub events: Vec<Event>,
    /// Spans, log records or data points that were refused.
    pub rejected: u64,
    /// The first reasons for refusal, for `partial_success.error_message`.
    pub reasons: Vec<String>,
    /// Items accepted (spans, log records, data points).
    pub accepted: u64,
}

impl Mapped {
    fn reject(&mut self, why: String) {
        self.rejected += 1;
        if self.reasons.len() < 3 && !self.reasons.contains(&why) {
            self.reasons.push(why);
        }
    }

    /// `partial_success.error_message`: empty when nothing was refused.
    pub fn error_message(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        format!(
            "{} of {} items rejected: {}",
            self.rejected,
            self.rejected + self.accepted,
            self.reasons.join("; ")
        )
    }
}

fn valid_id(bytes: &[u8], len: usize) -> bool {
    bytes.len() == len && bytes.iter().any(|b| *b != 0)
}

/// An attribute value as JSON. Bytes become hex; non-finite doubles become strings.
pub fn any_to_json(v: &AnyValue) -> Value {
    v.value.as_ref().map_or(Value::Null, value_to_json)
}

fn value_to_json(v: &any_value::Value) -> Value {
    match v {
        any_value::Value::StringValue(s) => Value::String(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::from(*i),
        any_value::Value::DoubleValue(d) => {
            serde_json::Number::from_f64(*d).map_or_else(|| Value::String(d.to_string()), Value::Number)
        }
        any_value::Value::ArrayValue(a) => Value::Array(a.values.iter().map(any_to_json).collect()),
        any_value::Value::KvlistValue(kv) => Value::Object(
            kv.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, any_to_json)))
                .collect(),
        ),
        any_value::Value::BytesValue(b) => Value::String(hex(b)),
        any_value::Value::StringValueStrindex(_) => Value::Null,
    }
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max.saturating_sub(3);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

/// Converts attributes, keeping at most `max_count` and cutting values to `max_len` bytes.
fn attributes(kvs: &[KeyValue], max_count: usize, max_len: usize) -> Attributes {
    let mut out = Attributes::new();
    for kv in kvs {
        if out.len() >= max_count {
            break;
        }
        if kv.key.is_empty() {
            continue;
        }
        let mut v = kv.value.as_ref().map_or(Value::Null, any_to_json);
        match &mut v {
            Value::String(s) => cut(s, max_len),
            Value::Array(_) | Value::Object(_) => {
                let text = v.to_string();
                if text.len() > max_len {
                    let mut text = text;
                    cut(&mut text, max_len);
                    v = Value::String(text);
                }
            }
            _ => {}
        }
        let mut key = kv.key.clone();
        cut(&mut key, 256);
        out.insert(key, v);
    }
    out
}

/// [`attributes`] encoded straight to the JSON object the store keeps (keys sorted, later
/// duplicates winning, the same limits), without building the map: `None` when empty.
/// Sensitive values are redacted here, since ingest cannot see into the encoded object
/// (maps are redacted by ingest, for every path alike).
fn attributes_json(kvs: &[KeyValue], max_count: usize, max_len: usize) -> Option<String> {
    // Sorted by key, as the map would be.
    let mut kept: Vec<(std::borrow::Cow<'_, str>, Option<&AnyValue>)> = Vec::with_capacity(kvs.len());
    for kv in kvs {
        if kept.len() >= max_count {
            break;
        }
        if kv.key.is_empty() {
            continue;
        }
        let key = if kv.key.len() > 256 {
            let mut k = kv.key.clone();
            cut(&mut k, 256);
            std::borrow::Cow::Owned(k)
        } else {
            std::borrow::Cow::Borrowed(kv.key.as_str())
        };
        match kept.binary_search_by(|(k, _)| k.as_ref().cmp(key.as_ref())) {
            Ok(i) => kept[i].1 = kv.value.as_ref(),
            Err(i) => kept.insert(i, (key, kv.value.as_ref())),
        }
    }
    if kept.is_empty() {
        return None;
    }
    // Keys and string values as they are, plus quotes, separators and short values: most
    // objects fit without growing.
    let size: usize = kept
        .iter()
        .map(|(k, v)| match v.and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => k.len() + s.len().min(max_len) + 8,
            _ => k.len() + 24,
        })
        .sum();
    let mut out: Vec<u8> = Vec::with_capacity(size + 2);
    out.push(b'{');
    for (n, (k, v)) in kept.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        json_str(&mut out, k);
        out.push(b':');
        if redact::is_sensitive(k) {
            json_str(&mut out, redact::REDACTED);
        } else {
            json_value(&mut out, v.and_then(|v| v.value.as_ref()), max_len);
        }
    }
    out.push(b'}');
    Some(String::from_utf8(out).expect("JSON is UTF-8"))
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec");
}

/// One attribute value as [`any_to_json`] and the cutting of [`attributes`] would give it.
fn json_value(out: &mut Vec<u8>, v: Option<&any_value::Value>, max_len: usize) {
    match v {
        None | Some(any_value::Value::StringValueStrindex(_)) => out.extend_from_slice(b"null"),
        Some(any_value::Value::StringValue(s)) => {
            if s.len() > max_len {
                let mut s = s.clone();
                cut(&mut s, max_len);
                json_str(out, &s);
            } else {
                json_str(out, s);
            }
        }
        Some(any_value::Value::BoolValue(b)) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Some(any_value::Value::IntValue(i)) => {
            serde_json::to_writer(out, i).expect("writing to a Vec");
        }
        Some(any_value::Value::DoubleValue(d)) if d.is_finite() => {
            serde_json::to_writer(out, d).expect("writing to a Vec");
        }
        Some(any_value::Value::DoubleValue(d)) => json_str(out, &d.to_string()),
        Some(any_value::Value::BytesValue(b)) => {
            let mut h = hex(b);
            cut(&mut h, max_len);
            json_str(out, &h);
        }
        Some(other @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            let text = value_to_json(other).to_string();
            if text.len() > max_len {
                let mut text = text;
                cut(&mut text, max_len);
                json_str(out, &text);
            } else {
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
}

fn find<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn find_str(kvs: &[KeyValue], key: &str) -> Option<String> {
    match find(kvs, key)? {
        any_value::Value::StringValue(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn as_u64(v: &any_value::Value) -> Option<u64> {
    match v {
        any_value::Value::IntValue(i) => u64::try_from(*i).ok(),
        any_value::Value::DoubleValue(d) if *d >= 0.0 && d.is_finite() => Some(*d as u64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The token counts of LLM spans, in the order of [`Tokens`]: each by the conventions' name,
/// then by the older or vendor spellings instrumentations still send (earlier names win).
const TOKEN_KEYS: [&[&str]; 5] = [
    &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
    &["gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"],
    &[
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.input_tokens.cached",
    ],
    &[
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
    ],
    &[
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.output_tokens.reasoning",
        "gen_ai.usage.reasoning_tokens",
    ],
];

/// Input, output, cache read, cache creation and reasoning tokens, in one pass over the
/// attributes.
type Tokens = [Option<u64>; 5];

fn tokens(kvs: &[KeyValue]) -> Tokens {
    let mut found: Tokens = [None; 5];
    let mut rank = [usize::MAX; 5];
    for kv in kvs.iter().filter(|kv| kv.key.starts_with("gen_ai.usage.")) {
        for (slot, names) in TOKEN_KEYS.iter().enumerate() {
            let Some(r) = names.iter().position(|n| *n == kv.key) else {
                continue;
            };
            let value = kv.value.as_ref().and_then(|v| v.value.as_ref()).and_then(as_u64);
            if r < rank[slot] && value.is_some() {
                (found[slot], rank[slot]) = (value, r);
            }
        }
    }
    found
}

fn find_f64(kvs: &[KeyValue], key: &str) -> Option<f64> {
    match find(kvs, key)? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) if d.is_finite() => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id-like attribute cut to `max` bytes (ids longer than the limit would be refused).
fn id_attr(kvs: &[KeyValue], key: &str, max: usize) -> Option<String> {
    find_str(kvs, key).map(|mut s| {
        if has_control(&s) {
            s.retain(|c| !c.is_control());
        }
        cut(&mut s, max);
        s
    })
}

fn service_name(resource: Option<&Resource>) -> Option<String> {
    resource.and_then(|r| find_str(&r.attributes, "service.name"))
}

/// The GenAI operation of a span: `gen_ai.operation.name`, else its name's first word when
/// that is a known operation.
pub fn operation(name: &str, attrs: &[KeyValue]) -> Option<String> {
    find_str(attrs, "gen_ai.operation.name").or_else(|| {
        let first = name.split_whitespace().next()?;
        OPERATIONS.contains(&first).then(|| first.to_string())
    })
}

/// Whether the span's parent is in another process: OTLP's `flags` say so when the sender
/// knows (both is-remote bits set).
fn parent_is_remote(flags: u32) -> bool {
    let remote = otel::SpanFlags::ContextHasIsRemoteMask as u32 | otel::SpanFlags::ContextIsRemoteMask as u32;
    flags & remote == remote
}

fn span_kind(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// The agent a span names: (id, display name).
fn span_agent(attrs: &[KeyValue], max: usize) -> Option<(String, Option<String>)> {
    let id = id_attr(attrs, "gen_ai.agent.id", max);
    let name = id_attr(attrs, "gen_ai.agent.name", max);
    match (id, name) {
        (Some(id), name) => Some((id, name)),
        (None, Some(name)) => Some((name.clone(), Some(name))),
        (None, None) => None,
    }
}

/// Why a span cannot be taken, if it cannot.
fn check_span(s: &otel::Span) -> Result<(), String> {
    if !valid_id(&s.trace_id, 16) {
        return Err(format!(
            "span `{}`: trace_id must be 16 bytes, not all zero (got {})",
            s.name,
            s.trace_id.len()
        ));
    }
    if !valid_id(&s.span_id, 8) {
        return Err(format!(
            "span `{}`: span_id must be 8 bytes, not all zero (got {})",
            s.name,
            s.span_id.len()
        ));
    }
    if !s.parent_span_id.is_empty() && s.parent_span_id.len() != 8 {
        return Err(format!("span `{}`: parent_span_id must be empty or 8 bytes", s.name));
    }
    let start_ms = s.start_time_unix_nano / 1_000_000;
    if !(MIN_MS..=MAX_MS).contains(&start_ms) {
        return Err(format!(
            "span `{}`: start_time_unix_nano {} is not a time between 2000 and 2200",
            s.name, s.start_time_unix_nano
        ));
    }
    if s.end_time_unix_nano < s.start_time_unix_nano {
        return Err(format!(
            "span `{}`: end_time_unix_nano is before start_time_unix_nano",
            s.name
        ));
    }
    Ok(())
}

/// Maps a trace export request.
pub fn traces(req: ExportTraceServiceRequest, limits: &Limits) -> Mapped {
    let mut out = Mapped::default();
    let max_id = limits.max_id_len;

    // First pass: the agent of each trace in the request.
    // (agent id, name, from the root span, start time of the naming span)
    struct Choice {
        id: String,
        name: Option<String>,
        version: Option<String>,
        root: bool,
        start: u64,
    }
    // Keyed by trace ids, up to a request's worth: a fast hash, seeded per process.
    let mut agents: FastMap<&[u8], Choice> = FastMap::default();
    let mut services: FastMap<&[u8], String> = FastMap::default();
    for rs in &req.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                if let Some(svc) = &service {
                    services.entry(&s.trace_id[..]).or_insert_with(|| svc.clone());
                }
                let Some((id, name)) = span_agent(&s.attributes, max_id) else {
                    continue;
                };
                let root = s.parent_span_id.is_empty() || parent_is_remote(s.flags);
                let better = match agents.get(&s.trace_id[..]) {
                    None => true,
                    Some(c) => (root && !c.root) || (root == c.root && s.start_time_unix_nano < c.start),
                };
                if better {
                    let version = id_attr(&s.attributes, "gen_ai.agent.version", max_id);
                    agents.insert(
                        &s.trace_id[..],
                        Choice {
                            id,
                            name,
                            version,
                            root,
                            start: s.start_time_unix_nano,
                        },
                    );
                }
            }
        }
    }
    // Agents named by spans are announced once per request.
    let mut announced = std::collections::HashSet::new();
    for c in agents.values() {
        if announced.insert(c.id.clone()) && (c.name.is_some() || c.version.is_some()) {
            out.events.push(Event::Agent(AgentEvent {
                id: c.id.clone(),
                name: c.name.clone(),
                version: c.version.clone(),
                ..Default::default()
            }));
        }
    }
    let per_trace: FastMap<Vec<u8>, (String, bool)> = agents
        .iter()
        .map(|(t, c)| (t.to_vec(), (c.id.clone(), !c.root)))
        .chain(
            services
                .iter()
                .filter(|(t, _)| !agents.contains_key(*t))
                .map(|(t, svc)| (t.to_vec(), (svc.clone(), true))),
        )
        .collect();

    let spans = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len());
    out.events.reserve(spans.sum());
    for rs in req.resource_spans {
        let service = service_name(rs.resource.as_ref());
        for ss in rs.scope_spans {
            for s in ss.spans {
                if let Err(why) = check_span(&s) {
                    out.reject(why);
                    continue;
                }
                let (agent_id, provisional) = per_trace
                    .get(&s.trace_id)
                    .cloned()
                    .unwrap_or_else(|| ("unknown".to_string(), true));
                let span = map_span(s, service.clone(), limits);
                out.accepted += 1;
                out.events.push(Event::Span(Box::new(SpanEvent {
                    span,
                    agent_id,
                    agent_provisional: provisional,
                })));
            }
        }
    }
    out
}

fn map_span(s: otel::Span, service: Option<String>, limits: &Limits) -> Span {
    let max_id = limits.max_id_len;
    let max_len = limits.max_text_len;
    let a = &s.attributes;
    let trace_id = hex(&s.trace_id);
    let operation = operation(&s.name, a);
    let category = operation
        .as_deref()
        .map_or(SpanCategory::Other, SpanCategory::of_operation);
    let error_type = find_str(a, "error.type");
    let (mut status, mut status_message) = match &s.status {
        Some(st) if st.code == otel::status::StatusCode::Error as i32 => {
            (SpanStatus::Error, Some(st.message.clone()).filter(|m| !m.is_empty()))
        }
        Some(st) if st.code == otel::status::StatusCode::Ok as i32 => (SpanStatus::Ok, None),
        _ => (SpanStatus::Unset, None),
    };
    if let Some(t) = &error_type {
        if status != SpanStatus::Ok {
            status = SpanStatus::Error;
        }
        status_message.get_or_insert_with(|| t.clone());
    }
    if let Some(m) = &mut status_message {
        cut(m, max_len);
    }
    let rest_of_name = || {
        s.name
            .split_once(' ')
            .map(|(_, rest)| rest.trim().to_string())
            .filter(|r| !r.is_empty())
    };
    let (mut provider, mut model, mut ttft_ms) = (None, None, None);
    let mut counts: Tokens = [None; 5];
    let mut tool_name = None;
    match category {
        SpanCategory::Llm => {
            provider = id_attr(a, "gen_ai.provider.name", max_id).or_else(|| id_attr(a, "gen_ai.system", max_id));
            model = id_attr(a, "gen_ai.response.model", max_id)
                .or_else(|| id_attr(a, "gen_ai.request.model", max_id))
                .or_else(|| {
                    rest_of_name().map(|mut m| {
                        cut(&mut m, max_id);
                        m
                    })
                });
            counts = tokens(a);
            ttft_ms = find_f64(a, "gen_ai.response.time_to_first_chunk")
                .or_else(|| find_f64(a, "gen_ai.server.time_to_first_token"))
                .filter(|v| *v >= 0.0)
                .map(|secs| secs * 1000.0);
        }
        SpanCategory::Tool => {
            tool_name = id_attr(a, "gen_ai.tool.name", max_id).or_else(|| {
                rest_of_name().map(|mut m| {
                    cut(&mut m, max_id);
                    m
                })
            });
        }
        _ => {}
    }
    let [tokens_in, tokens_out, cache_read_tokens, cache_creation_tokens, reasoning_tokens] = counts;
    let agent_name = span_agent(a, max_id).map(|(id, name)| name.unwrap_or(id));
    let events = s
        .events
        .iter()
        .map(|e| SpanEventRecord {
            name: e.name.clone(),
            time_unix_nano: e.time_unix_nano,
            attributes: attributes(&e.attributes, MAX_SPAN_ATTRIBUTES, max_len),
        })
        .collect();
    let mut name = s.name;
    cut(&mut name, max_len);
    let mut span = Span {
        execution_id: trace_id.clone(),
        trace_id,
        span_id: hex(&s.span_id),
        parent_span_id: (!s.parent_span_id.is_empty()).then(|| hex(&s.parent_span_id)),
        remote_parent: !s.parent_span_id.is_empty() && parent_is_remote(s.flags),
        name,
        category,
        span_kind: span_kind(s.kind).to_string(),
        operation,
        service,
        start_unix_nano: s.start_time_unix_nano,
        end_unix_nano: s.end_time_unix_nano,
        start_ms: 0.0,
        duration_ms: 0.0,
        status,
        status_message,
        attributes: Attributes::new(),
        attributes_json: attributes_json(a, MAX_SPAN_ATTRIBUTES, max_len),
        events,
        agent_name,
        provider,
        model,
        tokens_in,
        tokens_out,
        cache_read_tokens,
        cache_creation_tokens,
        reasoning_tokens,
        cost_usd: None,
        ttft_ms,
        tool_name,
    };
    span.set_ms();
    span
}

fn level_of(severity_number: i32, severity_text: &str) -> LogLevel {
    match severity_number {
        1..=4 => LogLevel::Trace,
        5..=8 => LogLevel::Debug,
        9..=12 => LogLevel::Info,
        13..=16 => LogLevel::Warn,
        17..=20 => LogLevel::Error,
        21..=24 => LogLevel::Fatal,
        _ => severity_text.to_ascii_lowercase().parse().unwrap_or_default(),
    }
}

/// Maps a logs export request: records with a trace id become log lines of its execution.
pub fn logs(req: ExportLogsServiceRequest, limits: &Limits, now_ms: i64) -> Mapped {
    let mut out = Mapped::default();
    for rl in req.resource_logs {
        let service = service_name(rl.resource.as_ref()).map(|mut s| {
            cut(&mut s, limits.max_id_len);
            s
        });
        for sl in rl.scope_logs {
            for r in sl.log_records {
                if !valid_id(&r.trace_id, 16) {
                    out.reject("log records need a 16-byte trace_id to be attached to an execution".to_string());
                    continue;
                }
                if !r.span_id.is_empty() && r.span_id.len() != 8 {
                    out.reject("log record span_id must be empty or 8 bytes".to_string());
                    continue;
                }
                let ts = [r.time_unix_nano, r.observed_time_unix_nano]
                    .into_iter()
                    .map(|ns| ns / 1_000_000)
                    .find(|ms| (MIN_MS..=MAX_MS).contains(ms))
                    .map_or(now_ms, |ms| ms as i64);
                let mut message = match r.body.as_ref().map(any_to_json) {
                    Some(Value::String(s)) => s,
                    None | Some(Value::Null) => r.event_name.clone(),
                    Some(other) => other.to_string(),
                };
                cut(&mut message, limits.max_text_len);
                let mut attrs = attributes(&r.attributes, limits.max_attributes, limits.max_attribute_len);
                if !r.event_name.is_empty() && attrs.len() < limits.max_attributes {
                    attrs.insert("event.name".into(), Value::String(r.event_name.clone()));
                }
                let trace_id = hex(&r.trace_id);
                out.accepted += 1;
                out.events.push(Event::Log(LogEvent {
                    execution_id: trace_id.clone(),
                    agent_id: service.clone(),
                    level: level_of(r.severity_number, &r.severity_text),
                    message,
                    attributes: attrs,
                    trace_id: Some(trace_id),
                    span_id: (!r.span_id.is_empty()).then(|| hex(&r.span_id)),
                    timestamp: Some(ts),
                }));
            }
        }
    }
    out
}

/// Turns cumulative histogram points into deltas, per series.
#[derive(Debug, Default)]
pub struct Cumulative {
    last: HashMap<String, (u64, u64, f64)>,
}

/// Most series remembered; past it the memory starts over (one interval is then counted whole).
const MAX_SERIES: usize = 100_000;

impl Cumulative {
    /// The increase of (count, sum) since the last point of `series` started at `start`.
    fn delta(&mut self, series: String, start: u64, count: u64, sum: f64) -> (u64, f64) {
        if self.last.len() >= MAX_SERIES {
            self.last.clear();
        }
        let prev = self.last.insert(series, (start, count, sum));
        match prev {
            Some((s, c, x)) if s == start && count >= c => (count - c, (sum - x).max(0.0)),
            _ => (count, sum),
        }
    }
}

/// One data point of a histogram of either kind, as far as usage needs it.
struct Point {
    attributes: Vec<KeyValue>,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
    count: u64,
    sum: Option<f64>,
}

/// Whether a histogram of either kind is cumulative, and its points (the two kinds of point
/// are distinct types with these fields in common).
macro_rules! points {
    ($h:expr) => {
        (
            $h.aggregation_temporality == 2,
            $h.data_points
                .into_iter()
                .map(|p| Point {
                    attributes: p.attributes,
                    start_time_unix_nano: p.start_time_unix_nano,
                    time_unix_nano: p.time_unix_nano,
                    count: p.count,
                    sum: p.sum,
                })
                .collect::<Vec<_>>(),
        )
    };
}

/// Maps a metrics export request: the GenAI client histograms (explicit-bucket or
/// exponential) become usage per model; other metrics are accepted and not kept.
pub fn metrics(req: ExportMetricsServiceRequest, limits: &Limits, cumulative: &mut Cumulative, now_ms: i64) -> Mapped {
    let mut out = Mapped::default();
    // (provider, model) → usage
    let mut usage: BTreeMap<(String, String), LlmUsageEvent> = BTreeMap::new();
    for rm in req.resource_metrics {
        let service = service_name(rm.resource.as_ref()).unwrap_or_default();
        for sm in rm.scope_metrics {
            for m in sm.metrics {
                let tokens = m.name == "gen_ai.client.token.usage";
                let duration = m.name == "gen_ai.client.operation.duration";
                let points = match &m.data {
                    Some(Data::Histogram(h)) => h.data_points.len(),
                    Some(Data::Gauge(g)) => g.data_points.len(),
                    Some(Data::Sum(s)) => s.data_points.len(),
                    Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                    Some(Data::Summary(s)) => s.data_points.len(),
                    None => 0,
                };
                out.accepted += points as u64;
                if !(tokens || duration) {
                    continue;
                }
                // Explicit-bucket and exponential histograms alike: only count and sum count.
                let (is_cumulative, points) = match m.data {
                    Some(Data::Histogram(h)) => points!(h),
                    Some(Data::ExponentialHistogram(h)) => points!(h),
                    _ => {
                        out.accepted -= points as u64;
                        for _ in 0..points {
                            out.reject(format!("{} must be a histogram", m.name));
                        }
                        continue;
                    }
                };
                for p in points {
                    let a = &p.attributes;
                    let provider = id_attr(a, "gen_ai.provider.name", limits.max_id_len)
                        .or_else(|| id_attr(a, "gen_ai.system", limits.max_id_len))
                        .unwrap_or_else(|| "unknown".into());
                    // A point that names no model still counts, under `unknown`.
                    let model = id_attr(a, "gen_ai.response.model", limits.max_id_len)
                        .or_else(|| id_attr(a, "gen_ai.request.model", limits.max_id_len))
                        .unwrap_or_else(|| "unknown".into());
                    let token_type = find_str(a, "gen_ai.token.type");
                    let failed = find_str(a, "error.type").is_some();
                    let sum = p.sum.unwrap_or(0.0).max(0.0);
                    let (count, sum) = if is_cumulative {
                        let mut keys: Vec<String> = a
                            .iter()
                            .map(|kv| format!("{}={}", kv.key, kv.value.as_ref().map_or(Value::Null, any_to_json)))
                            .collect();
                        keys.sort();
                        let series = format!("{service}|{}|{}", m.name, keys.join(","));
                        cumulative.delta(series, p.start_time_unix_nano, p.count, sum)
                    } else {
                        (p.count, sum)
                    };
                    let ts = Some(p.time_unix_nano / 1_000_000)
                        .filter(|ms| (MIN_MS..=MAX_MS).contains(ms))
                        .map_or(now_ms, |ms| ms as i64);
                    let u = usage
                        .entry((provider.clone(), model.clone()))
                        .or_insert_with(|| LlmUsageEvent {
                            provider,
                            model,
                            ..Default::default()
                        });
                    u.timestamp = Some(u.timestamp.map_or(ts, |t| t.max(ts)));
                    // Counts come from the client: saturate rather than overflow.
                    if duration {
                        u.requests = u.requests.saturating_add(count);
                        if failed {
                            u.failed_requests = u.failed_requests.saturating_add(count);
                        }
                        u.latency_ms_sum += sum * 1000.0;
                    } else {
                        let tokens = sum.round() as u64;
                        match token_type.as_deref() {
                            Some("input") => u.tokens_in = u.tokens_in.saturating_add(tokens),
                            Some("output") => u.tokens_out = u.tokens_out.saturating_add(tokens),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    out.events.extend(
        usage
            .into_values()
            .filter(|u| u.requests > 0 || u.tokens_in > 0 || u.tokens_out > 0)
            .map(Event::LlmUsage),
    );
    out
}

#[cfg(test)]
mod tests;
