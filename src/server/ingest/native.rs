//! Decoding `POST /api/v1/events`: a JSON array, a single JSON object, or NDJSON.
//!
//! Batches are all-or-nothing: every item is decoded and validated first, and if any is
//! invalid the answer is 400 listing each bad item (index, field, problem) and nothing
//! is stored.

use crate::error::{ApiError, ErrorCode, FieldError};
use crate::model::*;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

/// Most item errors listed in one response.
const MAX_REPORTED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
}

impl Format {
    /// The body format for a `Content-Type`, or 415 naming what is accepted.
    pub fn from_content_type(ct: Option<&str>) -> Result<Self, ApiError> {
        let mime = super::body::media_type(ct);
        match mime.as_str() {
            "application/json" => Ok(Format::Json),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "application/jsonlines" => Ok(Format::Ndjson),
            _ => Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "unsupported content type `{}`: send application/json (an array of events) or application/x-ndjson (one event per line)",
                    if mime.is_empty() { "(none)" } else { &mime }
                ),
            )),
        }
    }
}

/// Decodes and validates a whole batch.
pub fn decode(body: &[u8], format: Format, limits: &Limits, max_events: usize) -> Result<Vec<Event>, ApiError> {
    // Each item stays text until its turn: the batch is never one tree of values in memory.
    let invalid = |e: serde_json::Error| {
        ApiError::bad_request(format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()))
    };
    let items: Vec<(usize, &str)> = match format {
        Format::Json => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(body)
                .map_err(invalid)?
                .into_iter()
                .map(RawValue::get)
                .enumerate()
                .collect(),
            _ => {
                let one = serde_json::from_slice::<&RawValue>(body).map_err(invalid)?;
                if !one.get().starts_with('{') {
                    return Err(ApiError::bad_request(
                        "the body must be a JSON array of events or one event object",
                    ));
                }
                vec![(0, one.get())]
            }
        },
        Format::Ndjson => std::str::from_utf8(body)
            .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .collect(),
    };
    if items.is_empty() {
        return Err(ApiError::bad_request("the batch is empty: send at least one event"));
    }
    if items.len() > max_events {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the batch has {} events; the limit is {max_events} per request",
                items.len()
            ),
        ));
    }

    let total = items.len();
    let mut events = Vec::with_capacity(total);
    let mut errors: Vec<FieldError> = Vec::new();
    let mut bad_items = 0;
    for (index, item) in items {
        let result = serde_json::from_str::<Value>(item)
            .map_err(|e| {
                vec![FieldError {
                    index: None,
                    field: String::new(),
                    message: format!("invalid JSON at column {}: {e}", e.column()),
                }]
            })
            .and_then(|v| decode_one(v).map_err(|e| vec![e]))
            .and_then(|ev| {
                let problems = ev.validate(limits);
                if problems.is_empty() {
                    Ok(ev)
                } else {
                    Err(problems)
                }
            });
        match result {
            Ok(ev) => events.push(ev),
            Err(problems) => {
                bad_items += 1;
                for mut p in problems {
                    if errors.len() < MAX_REPORTED {
                        p.index = Some(index);
                        errors.push(p);
                    }
                }
            }
        }
    }
    if bad_items > 0 {
        let first = &errors[0];
        let what = if format == Format::Ndjson { "line" } else { "item" };
        let message = format!(
            "{bad_items} of {total} events are invalid, nothing was stored; first: {what} {} field `{}` {}",
            first.index.unwrap_or(0),
            first.field,
            first.message
        );
        return Err(ApiError::bad_request(message).with_details(errors));
    }
    Ok(events)
}

fn decode_one(value: Value) -> Result<Event, FieldError> {
    let err = |field: &str, message: String| FieldError {
        index: None,
        field: field.to_string(),
        message,
    };
    let Value::Object(mut map) = value else {
        return Err(err("", "each event must be a JSON object".into()));
    };
    let kind = match map.remove("type") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(err("type", format!("must be a string, got {other}"))),
        None => {
            return Err(err(
                "type",
                format!("is missing; expected one of {}", EVENT_TYPES.join(", ")),
            ))
        }
    };
    let v = Value::Object(map);
    Ok(match kind.as_str() {
        "agent" => Event::Agent(typed(v)?),
        "execution" => Event::Execution(typed(v)?),
        "status" => Event::Status(typed(v)?),
        "log" => Event::Log(typed(v)?),
        "resource" => Event::Resource(typed(v)?),
        "llm_call" => Event::LlmCall(typed(v)?),
        "tool_call" => Event::ToolCall(typed(v)?),
        "workflow" => Event::Workflow(typed(v)?),
        "plugin" => Event::Plugin(typed(v)?),
        "system" => Event::System(typed(v)?),
        "span" => {
            let mut e: Box<SpanEvent> = Box::new(typed(v)?);
            e.span.scope_from_attributes();
            Event::Span(e)
        }
        "llm_usage" => Event::LlmUsage(typed(v)?),
        other => {
            return Err(err(
                "type",
                format!(
                    "unknown event type `{other}`; expected one of {}",
                    EVENT_TYPES.join(", ")
                ),
            ))
        }
    })
}

/// Deserializes one event body, naming the failing field.
fn typed<T: DeserializeOwned>(v: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde reports a missing field on its parent: name the field itself.
        let field = match (inner.strip_prefix("missing field `"), path.as_str()) {
            (Some(rest), p) => {
                let name = rest.split('`').next().unwrap_or("");
                if p == "." || p.is_empty() {
                    name.to_string()
                } else {
                    format!("{p}.{name}")
                }
            }
            (None, ".") => String::new(),
            (None, p) => p.to_string(),
        };
        FieldError {
            index: None,
            field,
            message: inner,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_json(body: &str) -> Result<Vec<Event>, ApiError> {
        decode(body.as_bytes(), Format::Json, &Limits::default(), 100)
    }

    #[test]
    fn accepts_an_array_an_object_and_ndjson() {
        let arr = r#"[{"type":"agent","id":"a"},{"type":"log","execution_id":"e","message":"hi","level":"warn"}]"#;
        assert_eq!(decode_json(arr).unwrap().len(), 2);
        assert_eq!(decode_json(r#"{"type":"agent","agent_id":"a"}"#).unwrap().len(), 1);
        let nd = "{\"type\":\"agent\",\"id\":\"a\"}\n\n{\"type\":\"status\",\"execution_id\":\"e\",\"status\":\"running\"}\n";
        assert_eq!(
            decode(nd.as_bytes(), Format::Ndjson, &Limits::default(), 100)
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn names_index_and_field_of_each_bad_item() {
        let body = r#"[{"type":"agent","id":"ok"},{"type":"log","execution_id":"e"},{"type":"log","execution_id":"e","message":"m","level":"loud"},{"type":"nope"}]"#;
        let err = decode_json(body).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        let got: Vec<(Option<usize>, &str)> = err.details.iter().map(|d| (d.index, d.field.as_str())).collect();
        assert_eq!(got, [(Some(1), "message"), (Some(2), "level"), (Some(3), "type")]);
        assert!(err.message.starts_with("3 of 4 events are invalid"), "{}", err.message);
        assert!(err.details[2].message.contains("expected one of agent"));
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        let err = decode_json(r#"[{"type":"llm_call","provider":"p","model":"m","latency_ms":"fast"}]"#).unwrap_err();
        assert_eq!(err.details[0].field, "latency_ms");
        let err = decode_json(r#"[{"type":"agent","id":"a","colour":"red"}]"#).unwrap_err();
        assert!(err.details[0].message.contains("colour"), "{:?}", err.details);
    }

    #[test]
    fn semantic_validation_runs_after_decoding() {
        let err = decode_json(r#"[{"type":"execution","id":"","agent_id":"a"}]"#).unwrap_err();
        assert_eq!((err.details[0].index, err.details[0].field.as_str()), (Some(0), "id"));
    }

    #[test]
    fn bad_json_empty_batches_and_big_batches_are_refused() {
        assert!(decode_json("[{").unwrap_err().message.contains("invalid JSON"));
        assert!(decode_json("[]").unwrap_err().message.contains("empty"));
        assert!(decode_json("42").unwrap_err().message.contains("JSON array"));
        let many = format!("[{}]", vec![r#"{"type":"agent","id":"a"}"#; 101].join(","));
        assert_eq!(decode_json(&many).unwrap_err().code, ErrorCode::PayloadTooLarge);
        let nd = "{\"type\":\"agent\",\"id\":\"a\"}\nnot json\n";
        let err = decode(nd.as_bytes(), Format::Ndjson, &Limits::default(), 100).unwrap_err();
        assert_eq!(err.details[0].index, Some(1));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Format::Json
        );
        assert_eq!(
            Format::from_content_type(Some("application/x-ndjson")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain")).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(
            Format::from_content_type(None).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
    }
}
