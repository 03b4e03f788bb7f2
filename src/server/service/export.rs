//! The encodings of an export, an execution at a time: JSON lines, CSV (the `csv` crate's
//! quoting), and OTLP/JSON trace requests built from the stored spans with the
//! `opentelemetry-proto` types, so what a collector reads back is what OTLP defines.

use crate::model::{Execution, Span, SpanStatus};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status};
use serde_json::Value;

pub const CSV_HEADER: &str = "id,agent_id,status,created_at,started_at,ended_at,duration_ms,tokens_in,tokens_out,cost_usd,llm_calls,tool_calls,session_id,user_id,environment,trace_id,error,input,output\n";

pub fn jsonl(out: &mut Vec<u8>, x: &Execution) {
    // An execution always encodes (strings, numbers, no maps with non-string keys).
    if serde_json::to_writer(&mut *out, x).is_ok() {
        out.push(b'\n');
    }
}

pub fn csv(out: &mut Vec<u8>, x: &Execution) {
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let record = [
        x.id.clone(),
        x.agent_id.clone(),
        x.status.as_str().to_string(),
        x.created_at.to_string(),
        opt(x.started_at),
        opt(x.ended_at),
        x.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        x.tokens_in.to_string(),
        x.tokens_out.to_string(),
        x.cost_usd.to_string(),
        x.llm_calls.to_string(),
        x.tool_calls.to_string(),
        text(&x.session_id),
        text(&x.user_id),
        text(&x.environment),
        text(&x.trace_id),
        text(&x.error),
        text(&x.input),
        text(&x.output),
    ];
    let mut w = ::csv::WriterBuilder::new().has_headers(false).from_writer(&mut *out);
    // Writing to memory cannot fail.
    let _ = w.write_record(&record);
    let _ = w.flush();
}

/// One line: the execution's spans as an OTLP/JSON export request (nothing for an execution
/// without spans).
pub fn otlp_json(out: &mut Vec<u8>, x: &Execution, spans: &[Span]) {
    if spans.is_empty() {
        return;
    }
    let service = spans
        .iter()
        .find_map(|s| s.service.clone())
        .unwrap_or_else(|| x.agent_id.clone());
    let mut resource = vec![kv("service.name", Value::String(service))];
    for (key, value) in [
        ("session.id", &x.session_id),
        ("user.id", &x.user_id),
        ("deployment.environment.name", &x.environment),
    ] {
        if let Some(v) = value {
            resource.push(kv(key, Value::String(v.clone())));
        }
    }
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "observatory.export".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans: spans.iter().map(otlp_span).collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    if serde_json::to_writer(&mut *out, &request).is_ok() {
        out.push(b'\n');
    }
}

fn otlp_span(s: &Span) -> OtlpSpan {
    let kind = match s.span_kind.as_str() {
        "internal" => span::SpanKind::Internal,
        "server" => span::SpanKind::Server,
        "client" => span::SpanKind::Client,
        "producer" => span::SpanKind::Producer,
        "consumer" => span::SpanKind::Consumer,
        _ => span::SpanKind::Unspecified,
    };
    let code = match s.status {
        SpanStatus::Unset => status::StatusCode::Unset,
        SpanStatus::Ok => status::StatusCode::Ok,
        SpanStatus::Error => status::StatusCode::Error,
    };
    OtlpSpan {
        trace_id: bytes(&s.trace_id),
        span_id: bytes(&s.span_id),
        parent_span_id: s.parent_span_id.as_deref().map(bytes).unwrap_or_default(),
        name: s.name.clone(),
        kind: kind as i32,
        start_time_unix_nano: s.start_unix_nano,
        end_time_unix_nano: s.end_unix_nano,
        attributes: s.all_attributes().into_iter().map(|(k, v)| kv(&k, v)).collect(),
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: e.attributes.iter().map(|(k, v)| kv(k, v.clone())).collect(),
                dropped_attributes_count: 0,
            })
            .collect(),
        status: Some(Status {
            message: s.status_message.clone().unwrap_or_default(),
            code: code as i32,
        }),
        ..Default::default()
    }
}

/// Hex ids back to their bytes (stored ids are lowercase hex).
fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(any(value)),
        ..Default::default()
    }
}

fn any(value: Value) -> AnyValue {
    let v = match value {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s)),
        Value::Array(items) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: items.into_iter().map(any).collect(),
        })),
        Value::Object(map) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: map.into_iter().map(|(k, v)| kv(&k, v)).collect(),
        })),
    };
    AnyValue { value: v }
}
