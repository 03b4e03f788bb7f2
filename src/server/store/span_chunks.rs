//! Spans as the store keeps them: one row per execution per commit (a chunk), holding that
//! commit's spans of the execution as a JSON array, LZ4-compressed.
//!
//! Spans are only ever read a whole execution at a time (the trace waterfall), and an agent
//! run's spans arrive together, so one chunk replaces a row and an index entry per span. The
//! spans of one run repeat their attribute keys, model names and ids, which LZ4 finds: the
//! OTLP bench's spans take about 230 bytes each instead of about 460 as rows. Compression runs
//! on the committing task, not on the writer thread.
//!
//! A chunk is a JSON array of `[span, attributes]` pairs: the span in its wire form, and its
//! attributes when they came already encoded (`Span::attributes_json`, from OTLP; these win),
//! else `null` with the attributes inside the span. It is stored compressed (LZ4, the
//! decompressed size prepended), as a BLOB; migration 8 builds the JSON of schema 7's span rows
//! in SQL and compresses it with [`compress`], registered as the SQL function `span_chunk`.

use super::{StoreError, StoreResult};
use crate::model::{Attributes, Span};
use rusqlite::types::ValueRef;
use std::collections::HashMap;

/// The spans of one execution as one compressed chunk.
pub fn encode(spans: &[Span]) -> StoreResult<Vec<u8>> {
    // A span's fixed fields take up to about 640 bytes as JSON.
    let attributes: usize = spans
        .iter()
        .filter_map(|s| s.attributes_json.as_ref())
        .map(String::len)
        .sum();
    let mut json = Vec::with_capacity(attributes + 640 * spans.len());
    json.push(b'[');
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        json.push(b'[');
        serde_json::to_writer(&mut json, span)?;
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
    use crate::model::{SpanCategory, SpanEventRecord};

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
        let chunk = encode(&[with_map.clone(), pre_encoded.clone()]).unwrap();
        let got = decode(ValueRef::Blob(&chunk)).unwrap();
        let mut expected = pre_encoded.clone();
        expected.attributes_json = None;
        expected.attributes = serde_json::from_str(r#"{"gen_ai.request.model":"gpt-4o","n":3}"#).unwrap();
        assert_eq!(got, [with_map, expected]);
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
