//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, one generic handler.
//!
//! The body is `application/x-protobuf` or `application/json` (OTLP/JSON), optionally gzipped;
//! the limit applies after decompression (413). The answer uses the request's encoding: the
//! export response (with `partial_success` when items were refused), or a `google.rpc.Status`
//! with the reason on failure: 400 undecodable, 415 unsupported type, 503 + `Retry-After`
//! when the ingest queue is full.

pub use super::encoding::{decode, Encoding};
use super::{Outcome, Receiver, Signal};
use crate::error::{ApiError, ErrorCode};
use crate::server::error::status_of;
use crate::server::ingest::body::{decode_body, read_body};
use crate::server::ingest::Lease;

use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::json;
use std::sync::Arc;

/// The three routes, on any router state that holds the [`Receiver`].
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Receiver>: FromRef<S>,
{
    Router::new()
        .route("/v1/traces", post(export::<ExportTraceServiceRequest>))
        .route("/v1/logs", post(export::<ExportLogsServiceRequest>))
        .route("/v1/metrics", post(export::<ExportMetricsServiceRequest>))
}

/// The gRPC code matching an HTTP error, as `google.rpc.Status.code`.
fn grpc_code(code: ErrorCode) -> i32 {
    use tonic::Code;
    (match code {
        ErrorCode::BadRequest | ErrorCode::UnsupportedMediaType => Code::InvalidArgument,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::Conflict => Code::Aborted,
        ErrorCode::PayloadTooLarge | ErrorCode::TooManyRequests => Code::ResourceExhausted,
        ErrorCode::Unauthorized => Code::Unauthenticated,
        ErrorCode::Forbidden => Code::PermissionDenied,
        ErrorCode::Overloaded => Code::Unavailable,
        ErrorCode::Internal => Code::Internal,
    }) as i32
}

/// A request to `/v1/*` refused before its handler (by the auth guard: 401, 403, 429),
/// answered as OTLP/HTTP answers: a `google.rpc.Status` in the request's encoding, JSON when
/// the request has none OTLP knows.
pub fn refusal(headers: &HeaderMap, e: ApiError) -> Response {
    error_response(Encoding::from_headers(headers).unwrap_or(Encoding::Json), e)
}

fn error_response(encoding: Encoding, e: ApiError) -> Response {
    let status = status_of(e.code);
    let code = grpc_code(e.code);
    let body = match encoding {
        // `google.rpc.Status`, as tonic-types generates it.
        Encoding::Protobuf => tonic_types::Status {
            code,
            message: e.message.clone(),
            details: Vec::new(),
        }
        .encode_to_vec(),
        Encoding::Json => json!({"code": code, "message": e.message}).to_string().into_bytes(),
    };
    let mut resp = (status, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response();
    if matches!(e.code, ErrorCode::Overloaded | ErrorCode::TooManyRequests) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// Reads and decodes the body, or the error response.
async fn request<T: Signal>(
    receiver: &Receiver,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Encoding, T, Lease), Response> {
    // Without a known type, errors are answered in JSON.
    let refused = |encoding, e: ApiError| {
        receiver.count_refused(&e);
        error_response(encoding, e)
    };
    let encoding = Encoding::from_headers(headers).map_err(|e| refused(Encoding::Json, e))?;
    let (bytes, lease) = read_body(headers, body, receiver.max_body_bytes, receiver.budget())
        .await
        .map_err(|e| refused(encoding, e))?;
    let decoded = decode_body(bytes, move |b| decode::<T>(encoding, b)).await;
    let req = decoded.map_err(|e| refused(encoding, e))?;
    Ok((encoding, req, lease))
}

/// The JSON export response: `{}`, or `partialSuccess` with the count as a decimal string
/// (OTLP/JSON encodes 64-bit integers as strings).
fn json_response(o: &Outcome, count_field: &str) -> serde_json::Value {
    if o.rejected == 0 && o.message.is_empty() {
        json!({})
    } else {
        json!({"partialSuccess": {count_field: o.rejected.to_string(), "errorMessage": o.message}})
    }
}

async fn export<S: Signal>(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Body) -> Response {
    // The lease holds the body's bytes in the ingest budget until the answer.
    let (encoding, req, _lease) = match request::<S>(&receiver, &headers, body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match receiver.export(req).await {
        Ok(o) => {
            let body = match encoding {
                Encoding::Protobuf => S::response(o).encode_to_vec(),
                Encoding::Json => json_response(&o, S::REJECTED_FIELD).to_string().into_bytes(),
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
        }
        Err(e) => error_response(encoding, e),
    }
}
