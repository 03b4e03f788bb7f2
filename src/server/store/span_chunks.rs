//! Spans as the store keeps them: one row per execution per commit (a chunk), holding that
//! commit's spans of the execution as a JSON array, LZ4-compressed.
//!
//! Spans are only ever read a whole execution at a time (the trace waterfall), and an agent
//! run's spans arrive together, so one chunk replaces a row and an index entry per span. The
//! spans of one run repeat their attribute keys, model names and ids, which LZ4 finds: the
//! OTLP bench's spans take about 230 bytes each instead of about 460 as rows. Compression runs
//! on the committing task, not on the writer thread.
//!
//! A chunk is a JSON array of `[span, attributes]` pairs: the span in its wire form less what
//! is derived or absent ([`Stored`]; chunks written before that hold the full form), and its
//! attributes when they came already encoded (`Span::attributes_json`, from OTLP; these win),
//! else `null` with the attributes inside the span. It is stored compressed (LZ4, the
//! decompressed size prepended), as a BLOB; migration 8 builds the JSON of schema 7's span rows
//! in SQL and compresses it with [`compress`], registered as the SQL function `span_chunk`.

use super::{StoreError, StoreResult};
use crate::model::{Attributes, Span, SpanCategory, SpanEventRecord, SpanStatus};
use rusqlite::types::ValueRef;
use serde::Serialize;
use std::collections::HashMap;

/// A span as a chunk keeps it: its wire form without what decoding derives (`start_ms`,
/// `duration_ms`) and without absent values (None, empty, the defaults), which `Span`'s
/// deserializer fills back in. About half the bytes of the full form, to encode and compress.
#[derive(Serialize)]
struct Stored<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_span_id: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    remote_parent: bool,
    execution_id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "is_other")]
    category: SpanCategory,
    span_kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    start_unix_nano: u64,
    end_unix_nano: u64,
    #[serde(skip_serializing_if = "is_unset")]
    status: SpanStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Attributes::is_empty")]
    attributes: &'a Attributes,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    events: &'a [SpanEventRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tokens_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_read_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_creation_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
}

fn is_other(c: &SpanCategory) -> bool {
    *c == SpanCategory::Other
}

fn is_unset(s: &SpanStatus) -> bool {
    *s == SpanStatus::Unset
}

impl<'a> From<&'a Span> for Stored<'a> {
    fn from(span: &'a Span) -> Self {
        // Every field named: a field added to `Span` fails to compile here until it is stored.
        let Span {
            trace_id,
            span_id,
            parent_span_id,
            remote_parent,
            execution_id,
            name,
            category,
            span_kind,
            operation,
            service,
            start_unix_nano,
            end_unix_nano,
            start_ms: _,
            duration_ms: _,
            status,
            status_message,
            attributes,
            attributes_json: _,
            events,
            agent_name,
            provider,
            model,
            tokens_in,
            tokens_out,
            cache_read_tokens,
            cache_creation_tokens,
            reasoning_tokens,
            cost_usd,
            ttft_ms,
            tool_name,
            // The execution keeps them (a resource's apply to every span of it).
            session_id: _,
            user_id: _,
            environment: _,
            search: _,
        } = span;
        Stored {
            trace_id,
            span_id,
            parent_span_id: parent_span_id.as_deref(),
            remote_parent: *remote_parent,
            execution_id,
            name,
            category: *category,
            span_kind,
            operation: operation.as_deref(),
            service: service.as_deref(),
            start_unix_nano: *start_unix_nano,
            end_unix_nano: *end_unix_nano,
            status: *status,
            status_message: status_message.as_deref(),
            attributes,
            events,
            agent_name: agent_name.as_deref(),
            provider: provider.as_deref(),
            model: model.as_deref(),
            tokens_in: *tokens_in,
            tokens_out: *tokens_out,
            cache_read_tokens: *cache_read_tokens,
            cache_creation_tokens: *cache_creation_tokens,
            reasoning_tokens: *reasoning_tokens,
            cost_usd: *cost_usd,
            ttft_ms: *ttft_ms,
            tool_name: tool_name.as_deref(),
        }
    }
}

/// The spans of one execution as one compressed chunk.
pub fn encode(spans: &[Span]) -> StoreResult<Vec<u8>> {
    // A span's fixed fields take up to about 400 bytes as JSON.
    let attributes: usize = spans
        .iter()
        .filter_map(|s| s.attributes_json.as_ref())
        .map(String::len)
        .sum();
    let mut json = Vec::with_capacity(attributes + 400 * spans.len());
    json.push(b'[');
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.push(b'[');
        serde_json::to_writer(&mut json, &Stored::from(span))?;
        json.push(b',');
        match &span.attributes_json {
            Some(attributes) => json.extend_from_slice(attributes.as_bytes()),
            None => json.extend_from_slice(b"null"),
        }
        json.push(b']');
    }
    json.push(b']');
    Ok(compress(&json))
}

/// One span as a row keeps it (the PostgreSQL store): its stored form, and its attributes
/// apart (None when it has none), so each is a JSON document of its own.
pub fn encode_one(span: &Span) -> StoreResult<(String, Option<String>)> {
    let mut stored = Stored::from(span);
    let empty = Attributes::default();
    stored.attributes = &empty;
    let attributes = match &span.attributes_json {
        Some(a) => Some(a.clone()),
        None if span.attributes.is_empty() => None,
        None => Some(serde_json::to_string(&span.attributes)?),
    };
    Ok((serde_json::to_string(&stored)?, attributes))
}

/// A span from its row: the inverse of [`encode_one`].
pub fn decode_one(span: &str, attributes: Option<&str>) -> StoreResult<Span> {
    let mut span: Span = serde_json::from_str(span)?;
    if let Some(a) = attributes {
        span.attributes = serde_json::from_str(a)?;
    }
    span.set_ms();
    Ok(span)
}

/// A chunk's JSON, compressed as the store keeps it.
pub fn compress(json: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(json)
}

/// The spans of one chunk, as written.
pub fn decode(chunk: ValueRef<'_>) -> StoreResult<Vec<Span>> {
    let invalid = |why: String| StoreError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
    let ValueRef::Blob(compressed) = chunk else {
        return Err(invalid(format!("a span chunk of type {:?}", chunk.data_type())));
    };
    let json = lz4_flex::decompress_size_prepended(compressed).map_err(|e| invalid(format!("a span chunk: {e}")))?;
    let pairs: Vec<(Span, Option<Attributes>)> = serde_json::from_slice(&json)?;
    Ok(pairs
        .into_iter()
        .map(|(mut span, attributes)| {
            if let Some(a) = attributes {
                span.attributes = a;
            }
            span.set_ms();
            span
        })
        .collect())
}

/// The spans of an execution's chunks (oldest chunk first) by start time, at most `limit`:
/// a span sent again (an exporter's retry) is the version of the latest chunk.
pub fn by_start(chunks: impl IntoIterator<Item = Vec<Span>>, limit: usize) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for span in chunks.into_iter().flatten() {
        match index.get(&span.span_id) {
            Some(&i) => spans[i] = span,
            None => {
                index.insert(span.span_id.clone(), spans.len());
                spans.push(span);
            }
        }
    }
    spans.sort_by(|a, b| (a.start_unix_nano, &a.span_id).cmp(&(b.start_unix_nano, &b.span_id)));
    spans.truncate(limit);
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, start: u64) -> Span {
        let mut s = Span {
            trace_id: "ab".repeat(16),
            span_id: id.into(),
            execution_id: "ab".repeat(16),
            name: format!("chat {id}"),
            category: SpanCategory::Llm,
            span_kind: "client".into(),
            start_unix_nano: start,
            end_unix_nano: start + 2_500_001,
            model: Some("gpt-4o".into()),
            tokens_in: Some(1200),
            cost_usd: Some(0.0125),
            ..Default::default()
        };
        if id != "plain" {
            // Every optional field set, so that each must survive the chunk.
            s.parent_span_id = Some("root".into());
            s.remote_parent = true;
            s.operation = Some("chat".into());
            s.service = Some("svc".into());
            s.status = SpanStatus::Error;
            s.status_message = Some("timeout".into());
            s.agent_name = Some("Researcher".into());
            s.provider = Some("openai".into());
            s.tokens_out = Some(300);
            s.cache_read_tokens = Some(600);
            s.cache_creation_tokens = Some(40);
            s.reasoning_tokens = Some(120);
            s.ttft_ms = Some(250.5);
            s.tool_name = Some("search".into());
        }
        s.events.push(SpanEventRecord {
            name: "gen_ai.choice".into(),
            time_unix_nano: start + 7,
            attributes: [("index".to_string(), serde_json::json!(0))].into(),
        });
        s.set_ms();
        s
    }

    #[test]
    fn chunks_keep_every_field_with_attributes_of_either_form() {
        let mut with_map = span("a", 1_000);
        with_map
            .attributes
            .insert("k".into(), serde_json::json!({"nested": [1, "two"]}));
        let mut pre_encoded = span("b", 2_000);
        pre_encoded.attributes_json = Some(r#"{"gen_ai.request.model":"gpt-4o","n":3}"#.into());
        // Nothing optional set: the defaults come back.
        let mut plain = span("plain", 3_000);
        (plain.category, plain.model, plain.tokens_in, plain.cost_usd) = (SpanCategory::Other, None, None, None);
        plain.events.clear();
        let chunk = encode(&[with_map.clone(), pre_encoded.clone(), plain.clone()]).unwrap();
        let got = decode(ValueRef::Blob(&chunk)).unwrap();
        let mut expected = pre_encoded.clone();
        expected.attributes_json = None;
        expected.attributes = serde_json::from_str(r#"{"gen_ai.request.model":"gpt-4o","n":3}"#).unwrap();
        assert_eq!(got, [with_map, expected, plain]);
    }

    #[test]
    fn compressed_json_reads_back_and_anything_else_is_refused() {
        let json = format!("[[{},null]]", serde_json::to_string(&span("a", 5)).unwrap());
        assert_eq!(
            decode(ValueRef::Blob(&compress(json.as_bytes()))).unwrap(),
            [span("a", 5)]
        );
        let err = decode(ValueRef::Text(json.as_bytes())).unwrap_err().to_string();
        assert!(err.contains("span chunk of type Text"), "{err}");
        let err = decode(ValueRef::Blob(b"\xff\0\0\0\x1f")).unwrap_err().to_string();
        assert!(err.contains("a span chunk: "), "{err}");
        assert!(decode(ValueRef::Blob(&compress(b"[1]"))).is_err());
    }

    #[test]
    fn the_latest_copy_of_a_span_wins_and_spans_come_by_start() {
        let mut again = span("a", 1_000);
        again.name = "chat again".into();
        let got = by_start(
            [vec![span("c", 3_000), span("a", 1_000)], vec![span("b", 1_000), again]],
            10,
        );
        let names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["chat again", "chat b", "chat c"]);
        assert_eq!(by_start([vec![span("c", 3), span("a", 1)]], 1)[0].span_id, "a");
    }
}
