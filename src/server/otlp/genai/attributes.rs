//! OTLP values and attributes as JSON (the map ingest redacts, or the stored object encoded
//! straight from the request and redacted as it is written), and attribute lookups.

use crate::format::hex;
use crate::model::*;
use crate::server::ingest::redact::{Redactor, REDACTED};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::Value;

pub(super) fn valid_id(bytes: &[u8], len: usize) -> bool {
    bytes.len() == len && bytes.iter().any(|b| *b != 0)
}

/// An attribute value as JSON. Bytes become hex; non-finite doubles become strings.
pub fn any_to_json(v: &AnyValue) -> Value {
    v.value.as_ref().map_or(Value::Null, value_to_json)
}

pub(super) fn value_to_json(v: &any_value::Value) -> Value {
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

pub(super) fn cut(s: &mut String, max: usize) {
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
pub(super) fn attributes(kvs: &[KeyValue], max_count: usize, max_len: usize) -> Attributes {
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
pub(super) fn attributes_json(
    kvs: &[KeyValue],
    max_count: usize,
    max_len: usize,
    redactor: &Redactor,
) -> Option<String> {
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
        if redactor.is_sensitive(k) {
            json_str(&mut out, REDACTED);
        } else {
            json_value(&mut out, v.and_then(|v| v.value.as_ref()), max_len);
        }
    }
    out.push(b'}');
    Some(String::from_utf8(out).expect("JSON is UTF-8"))
}

pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing to a Vec");
}

/// One attribute value as [`any_to_json`] and the cutting of [`attributes`] would give it.
pub(super) fn json_value(out: &mut Vec<u8>, v: Option<&any_value::Value>, max_len: usize) {
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

pub(super) fn find<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

pub(super) fn find_str(kvs: &[KeyValue], key: &str) -> Option<String> {
    match find(kvs, key)? {
        any_value::Value::StringValue(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

pub(super) fn as_u64(v: &any_value::Value) -> Option<u64> {
    match v {
        any_value::Value::IntValue(i) => u64::try_from(*i).ok(),
        any_value::Value::DoubleValue(d) if *d >= 0.0 && d.is_finite() => Some(*d as u64),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn find_f64(kvs: &[KeyValue], key: &str) -> Option<f64> {
    match find(kvs, key)? {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) if d.is_finite() => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id-like attribute cut to `max` bytes (ids longer than the limit would be refused).
pub(super) fn id_attr(kvs: &[KeyValue], key: &str, max: usize) -> Option<String> {
    find_str(kvs, key).map(|mut s| {
        if has_control(&s) {
            s.retain(|c| !c.is_control());
        }
        cut(&mut s, max);
        s
    })
}
