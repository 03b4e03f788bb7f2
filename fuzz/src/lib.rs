//! What the fuzz targets share: an OTLP/HTTP body taken through the server's own path.

use observatory::model::Limits;
use observatory::server::ingest::Redactor;
use observatory::server::otlp::genai::{self, Cumulative, Mapped};
use observatory::server::otlp::http::{decode, Encoding};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// A fixed clock, so that a crash reproduces from its input alone.
pub const NOW_MS: i64 = 1_767_225_600_000; // 2026-01-01

/// The first byte picks the signal (traces, logs, metrics), the rest is the body: decoded
/// as `POST /v1/{traces,logs,metrics}` decodes it, then, when it decodes, mapped by
/// [`genai`] and validated as `otlp::Receiver` does before it submits.
pub fn otlp(encoding: Encoding, data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    let mapped = match selector % 3 {
        0 => match decode::<ExportTraceServiceRequest>(encoding, body) {
            Ok(req) => genai::traces(req, &limits, &Redactor::default()),
            Err(_) => return,
        },
        1 => match decode::<ExportLogsServiceRequest>(encoding, body) {
            Ok(req) => genai::logs(req, &limits, NOW_MS),
            Err(_) => return,
        },
        _ => match decode::<ExportMetricsServiceRequest>(encoding, body) {
            Ok(req) => {
                // Twice through one memory, so cumulative series are also differenced.
                let mut cumulative = Cumulative::default();
                let first = genai::metrics(req.clone(), &limits, &mut cumulative, NOW_MS);
                check(first, &limits);
                genai::metrics(req, &limits, &mut cumulative, NOW_MS)
            }
            Err(_) => return,
        },
    };
    check(mapped, &limits);
}

/// What the server does with a mapping before submitting it.
fn check(mapped: Mapped, limits: &Limits) {
    for event in &mapped.events {
        let _ = event.validate(limits);
    }
    let _ = mapped.error_message();
}
