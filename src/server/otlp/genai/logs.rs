//! Log export requests: records with a trace id become log lines of its execution.

use super::attributes::*;
use super::conventions::*;
use super::{Mapped, MAX_MS, MIN_MS};
use crate::format::hex;
use crate::model::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use serde_json::Value;

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
