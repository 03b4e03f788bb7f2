//! OpenTelemetry ingestion: OTLP/HTTP (`POST /v1/traces`, `/v1/logs`, `/v1/metrics`, protobuf
//! or JSON) on the main port and OTLP/gRPC on its own listener. Both decode with the
//! opentelemetry-proto types, map with [`genai`] and feed the ingest queue, so an answer of
//! success means the data is durable.

pub mod genai;
pub mod grpc;
pub mod http;

use super::AppState;
use crate::error::ApiError;
use crate::model::Event;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use parking_lot::Mutex;

/// Receiver state kept between requests.
#[derive(Default)]
pub struct Otlp {
    cumulative: Mutex<genai::Cumulative>,
}

/// What an accepted export leads to: items refused (partial success) and why.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub rejected: i64,
    pub message: String,
}

pub async fn export_traces(state: &AppState, req: ExportTraceServiceRequest) -> Result<Outcome, ApiError> {
    let mapped = genai::traces(req, &state.config.limits);
    submit(state, mapped).await
}

pub async fn export_logs(state: &AppState, req: ExportLogsServiceRequest) -> Result<Outcome, ApiError> {
    let mapped = genai::logs(req, &state.config.limits, super::now_ms());
    submit(state, mapped).await
}

pub async fn export_metrics(state: &AppState, req: ExportMetricsServiceRequest) -> Result<Outcome, ApiError> {
    let mapped = {
        let mut cumulative = state.otlp.cumulative.lock();
        genai::metrics(req, &state.config.limits, &mut cumulative, super::now_ms())
    };
    submit(state, mapped).await
}

/// Submits what was mapped, minus anything that fails validation (counted as rejected), and
/// waits until it is durable.
async fn submit(state: &AppState, mut mapped: genai::Mapped) -> Result<Outcome, ApiError> {
    let limits = state.config.limits;
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
        state
            .ingest
            .count_rejected(crate::server::ingest::Rejection::Validation, mapped.rejected as usize);
    }
    let message = mapped.error_message();
    let rejected = mapped.rejected as i64;
    let events: Vec<Event> = mapped.events;
    state.ingest.submit(events).await?;
    Ok(Outcome { rejected, message })
}
