//! Trace export requests: each valid span a [`SpanEvent`] of the execution named by its
//! trace id, under the agent of the trace (see the module above).

use super::attributes::*;
use super::conventions::*;
use super::{Mapped, MAX_MS, MIN_MS};
use crate::format::hex;
use crate::model::*;
use crate::server::ingest::Redactor;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1 as otel;

type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

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
pub fn traces(req: ExportTraceServiceRequest, limits: &Limits, redactor: &Redactor) -> Mapped {
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
        let resource_scope = rs
            .resource
            .as_ref()
            .map_or([None, None, None], |r| scope(&r.attributes, max_id));
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
                let mut span = map_span(s, service.clone(), limits, redactor);
                let [session, user, environment] = &resource_scope;
                span.session_id = span.session_id.or_else(|| session.clone());
                span.user_id = span.user_id.or_else(|| user.clone());
                span.environment = span.environment.or_else(|| environment.clone());
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

fn map_span(s: otel::Span, service: Option<String>, limits: &Limits, redactor: &Redactor) -> Span {
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
    let mut counts = [None; 5];
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
    let [session_id, user_id, environment] = scope(a, max_id);
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
        attributes_json: attributes_json(a, MAX_SPAN_ATTRIBUTES, max_len, redactor),
        search: Some(span_search(a, max_len, redactor)),
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
        session_id,
        user_id,
        environment,
    };
    span.set_ms();
    span
}

/// What the span's attributes add to the search index, from the protobuf as
/// [`attributes_json`] keeps them (the same keys, redacted ones left out), here where
/// requests are mapped in parallel rather than on the pipeline's one task.
fn span_search(kvs: &[KeyValue], max_len: usize, redactor: &Redactor) -> Box<SpanSearch> {
    use crate::server::store::search::{Scalar, SearchSink};
    let mut sink = SearchSink::default();
    for kv in kvs.iter().filter(|kv| !kv.key.is_empty()).take(MAX_SPAN_ATTRIBUTES) {
        if redactor.is_sensitive(&kv.key) {
            continue;
        }
        let mut one = |v: &any_value::Value| match v {
            any_value::Value::StringValue(s) if s.len() > max_len => {
                let mut s = s.clone();
                cut(&mut s, max_len);
                sink.attribute(&kv.key, Scalar::Text(&s));
            }
            any_value::Value::StringValue(s) => sink.attribute(&kv.key, Scalar::Text(s)),
            any_value::Value::BoolValue(b) => sink.attribute(&kv.key, Scalar::Other(if *b { "true" } else { "false" })),
            any_value::Value::IntValue(i) => sink.attribute(&kv.key, Scalar::Other(&i.to_string())),
            any_value::Value::DoubleValue(d) => {
                if let Some(n) = serde_json::Number::from_f64(*d) {
                    sink.attribute(&kv.key, Scalar::Other(&n.to_string()));
                }
            }
            _ => {}
        };
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::ArrayValue(items)) => {
                for item in items.values.iter().filter_map(|i| i.value.as_ref()) {
                    if !matches!(item, any_value::Value::BoolValue(_)) {
                        one(item);
                    }
                }
            }
            Some(v) => one(v),
            None => {}
        }
    }
    Box::new(sink.0)
}
