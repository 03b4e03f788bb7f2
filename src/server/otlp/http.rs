//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`.
//!
//! The body is `application/x-protobuf` or `application/json` (OTLP/JSON), optionally gzipped;
//! the limit applies after decompression (413). The answer uses the request's encoding: the
//! export response (with `partial_success` when items were refused), or a `google.rpc.Status`
//! with the reason on failure: 400 undecodable, 415 unsupported type, 503 + `Retry-After`
//! when the ingest queue is full.

use super::Outcome;
use crate::error::{ApiError, ErrorCode};
use crate::server::ingest::Rejection;
use crate::server::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde::de::DeserializeOwned;
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mime = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "unsupported content type `{}`: OTLP/HTTP takes application/x-protobuf or application/json",
                    if mime.is_empty() { "(none)" } else { &mime }
                ),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
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
    let status = crate::server::error::status_of(e.code);
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

/// Decodes an export request body (already decompressed) in the given encoding; public for
/// the fuzz targets (`fuzz/`), which feed it the bytes the server would.
pub fn decode<T: Message + Default + DeserializeOwned>(encoding: Encoding, bytes: &[u8]) -> Result<T, ApiError> {
    match encoding {
        Encoding::Protobuf => {
            T::decode(bytes).map_err(|e| ApiError::bad_request(format!("undecodable OTLP protobuf: {e}")))
        }
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "undecodable OTLP/JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        }),
    }
}

/// Reads and decodes the body, or the error response.
async fn request<T: Message + Default + DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Encoding, T), Response> {
    // Without a known type, errors are answered in JSON.
    let refused = |encoding, e: ApiError| {
        state.ingest.count_rejected(Rejection::of(&e), 1);
        error_response(encoding, e)
    };
    let encoding = Encoding::from_headers(headers).map_err(|e| refused(Encoding::Json, e))?;
    let bytes = crate::server::routes::read_body(headers, body, state.config.max_otlp_body_bytes)
        .await
        .map_err(|e| refused(encoding, e))?;
    let req = decode(encoding, &bytes).map_err(|e| refused(encoding, e))?;
    Ok((encoding, req))
}

fn ok(encoding: Encoding, protobuf: Vec<u8>, json: serde_json::Value) -> Response {
    let body = match encoding {
        Encoding::Protobuf => protobuf,
        Encoding::Json => json.to_string().into_bytes(),
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, encoding.content_type())], body).into_response()
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

async fn traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, req) = match request::<ExportTraceServiceRequest>(&state, &headers, body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match super::export_traces(&state, req).await {
        Ok(o) => {
            let pb = ExportTraceServiceResponse {
                partial_success: (o.rejected > 0).then(|| ExportTracePartialSuccess {
                    rejected_spans: o.rejected,
                    error_message: o.message.clone(),
                }),
            };
            ok(encoding, pb.encode_to_vec(), json_response(&o, "rejectedSpans"))
        }
        Err(e) => error_response(encoding, e),
    }
}

async fn logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, req) = match request::<ExportLogsServiceRequest>(&state, &headers, body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match super::export_logs(&state, req).await {
        Ok(o) => {
            let pb = ExportLogsServiceResponse {
                partial_success: (o.rejected > 0).then(|| ExportLogsPartialSuccess {
                    rejected_log_records: o.rejected,
                    error_message: o.message.clone(),
                }),
            };
            ok(encoding, pb.encode_to_vec(), json_response(&o, "rejectedLogRecords"))
        }
        Err(e) => error_response(encoding, e),
    }
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, req) = match request::<ExportMetricsServiceRequest>(&state, &headers, body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match super::export_metrics(&state, req).await {
        Ok(o) => {
            let pb = ExportMetricsServiceResponse {
                partial_success: (o.rejected > 0).then(|| ExportMetricsPartialSuccess {
                    rejected_data_points: o.rejected,
                    error_message: o.message.clone(),
                }),
            };
            ok(encoding, pb.encode_to_vec(), json_response(&o, "rejectedDataPoints"))
        }
        Err(e) => error_response(encoding, e),
    }
}
