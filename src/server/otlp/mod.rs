//! OpenTelemetry ingestion: OTLP/HTTP (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`, protobuf
//! or JSON) on the main port and OTLP/gRPC on its own listener. Both decode with the
//! opentelemetry-proto types, map with [`genai`] and feed the ingest queue through one
//! [`Receiver`], so an answer of success means the data is durable.
//!
//! The three signals differ only in their types, their mapping and the name of their
//! rejected count: [`Signal`] says each once, and each transport has one generic handler.

pub mod encoding;
pub mod genai;
pub mod grpc;
pub mod http;

use crate::error::ApiError;
use crate::model::{Event, Limits};
use crate::server::clock::now_ms;
use crate::server::ingest::{Ingest, Redactor, Rejection};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use parking_lot::Mutex;
use std::sync::Arc;

/// What both transports hand their requests to: the mapping's settings, the state it keeps
/// between requests, and the ingest queue.
pub struct Receiver {
    ingest: Ingest,
    limits: Limits,
    /// The largest request (HTTP body after decompression, gRPC message).
    pub max_body_bytes: usize,
    cumulative: Mutex<genai::Cumulative>,
    /// Span attributes are encoded to JSON by the mapper, which redacts them as it goes.
    redactor: Arc<Redactor>,
}

/// What an accepted export leads to: items refused (partial success) and why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub rejected: i64,
    pub message: String,
}

/// One OTLP signal: its export request and response, and how its items are mapped.
pub trait Signal: prost::Message + Default + serde::de::DeserializeOwned + Send + 'static {
    type Response: prost::Message + Default + Send + 'static;
    /// The OTLP/JSON name of the response's rejected count.
    const REJECTED_FIELD: &'static str;
    fn map(self, receiver: &Receiver, now: i64) -> genai::Mapped;
    /// The export response: empty, or a partial success naming what was refused.
    fn response(outcome: Outcome) -> Self::Response;
}

impl Signal for ExportTraceServiceRequest {
    type Response = ExportTraceServiceResponse;
    const REJECTED_FIELD: &'static str = "rejectedSpans";
    fn map(self, receiver: &Receiver, _now: i64) -> genai::Mapped {
        genai::traces(self, &receiver.limits, &receiver.redactor)
    }
    fn response(o: Outcome) -> Self::Response {
        ExportTraceServiceResponse {
            partial_success: (o.rejected > 0 || !o.message.is_empty()).then_some(ExportTracePartialSuccess {
                rejected_spans: o.rejected,
                error_message: o.message,
            }),
        }
    }
}

impl Signal for ExportLogsServiceRequest {
    type Response = ExportLogsServiceResponse;
    const REJECTED_FIELD: &'static str = "rejectedLogRecords";
    fn map(self, receiver: &Receiver, now: i64) -> genai::Mapped {
        genai::logs(self, &receiver.limits, now)
    }
    fn response(o: Outcome) -> Self::Response {
        ExportLogsServiceResponse {
            partial_success: (o.rejected > 0 || !o.message.is_empty()).then_some(ExportLogsPartialSuccess {
                rejected_log_records: o.rejected,
                error_message: o.message,
            }),
        }
    }
}

impl Signal for ExportMetricsServiceRequest {
    type Response = ExportMetricsServiceResponse;
    const REJECTED_FIELD: &'static str = "rejectedDataPoints";
    fn map(self, receiver: &Receiver, now: i64) -> genai::Mapped {
        let mut cumulative = receiver.cumulative.lock();
        genai::metrics(self, &receiver.limits, &mut cumulative, now)
    }
    fn response(o: Outcome) -> Self::Response {
        ExportMetricsServiceResponse {
            partial_success: (o.rejected > 0 || !o.message.is_empty()).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: o.rejected,
                error_message: o.message,
            }),
        }
    }
}

impl Receiver {
    pub fn new(ingest: Ingest, limits: Limits, max_body_bytes: usize, redactor: Arc<Redactor>) -> Self {
        Self {
            ingest,
            limits,
            max_body_bytes,
            cumulative: Mutex::default(),
            redactor,
        }
    }

    /// Counts a request refused before it was mapped (undecodable, too large, not allowed).
    /// The ingest memory budget requests are read within.
    pub fn budget(&self) -> &crate::server::ingest::Budget {
        self.ingest.budget()
    }

    pub fn count_refused(&self, e: &ApiError) {
        self.ingest.count_rejected(Rejection::of(e), 1);
    }

    /// Maps one export request and submits it; returns once it is durable.
    pub async fn export<S: Signal>(&self, request: S) -> Result<Outcome, ApiError> {
        let mapped = request.map(self, now_ms());
        self.submit(mapped).await
    }

    /// Submits what was mapped, minus anything that fails validation (counted as rejected),
    /// and waits until it is durable.
    async fn submit(&self, mut mapped: genai::Mapped) -> Result<Outcome, ApiError> {
        let limits = self.limits;
        let mut invalid = Vec::new();
        mapped.events.retain(|e| {
            let problems = e.validate(&limits);
            if let Some(p) = problems.first() {
                invalid.push(format!("{} field `{}` {}", e.type_name(), p.field, p.message));
                false
            } else {
                true
            }
        });
        for why in invalid {
            // An invalid agent announcement is not an item of the request; spans and logs are.
            mapped.accepted = mapped.accepted.saturating_sub(1);
            mapped.rejected += 1;
            if mapped.reasons.len() < 3 {
                mapped.reasons.push(why);
            }
        }
        if mapped.rejected > 0 {
            self.ingest
                .count_rejected(Rejection::Validation, mapped.rejected as usize);
            if !mapped.events.is_empty() {
                self.ingest.count_partial();
            }
        }
        let mut message = mapped.error_message();
        let rejected = mapped.rejected as i64;
        let events: Vec<Event> = mapped.events;
        let receipt = self.ingest.submit(events).await?;
        if let Some(warning) = receipt.warning(self.limits.max_agents) {
            // A partial success with nothing rejected is OTLP's warning.
            message = [message, warning]
                .into_iter()
                .filter(|m| !m.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
        }
        Ok(Outcome { rejected, message })
    }
}
