//! Request bodies as every ingest route reads them: the media type of `Content-Type`, and the
//! body with a limit that applies after decompression.

use super::budget::{Budget, Lease};
use crate::error::{ApiError, ErrorCode};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use std::io::Read;

/// The media type of a `Content-Type` value, lower-cased, without parameters (`""` when
/// absent): `application/json; charset=utf-8` is `application/json`.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// [`media_type`] of a request's headers.
pub fn media_type_of(headers: &HeaderMap) -> String {
    media_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is over the limit of {limit} bytes (after decompression)"),
    )
}

/// Bodies larger than this are decoded on the blocking pool.
const OFF_WORKER_BYTES: usize = 64 * 1024;

/// `decode(&bytes)`: inline for a small body, on the blocking pool for a large one (decoding
/// is CPU work, and the async workers serve everyone else meanwhile).
pub async fn decode_body<T: Send + 'static>(
    bytes: Bytes,
    decode: impl FnOnce(&[u8]) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if bytes.len() <= OFF_WORKER_BYTES {
        return decode(&bytes);
    }
    tokio::task::spawn_blocking(move || decode(&bytes))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::new(
                ErrorCode::Internal,
                format!("decoding the body failed: {e}"),
            ))
        })
}

/// Decompressed bytes produced between two checks of the budget and the limit.
const INFLATE_STEP: usize = 64 * 1024;

/// The whole body, gunzipped when `Content-Encoding: gzip`; 413 past `limit` bytes (after
/// decompression), 503 once the ingest budget cannot cover what is read (compressed and
/// decompressed bytes both count). The lease holds the bytes until the request is answered.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &Budget,
) -> Result<(Bytes, Lease), ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let gzip = match encoding.as_str() {
        "" | "identity" => false,
        "gzip" | "x-gzip" => true,
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("unsupported Content-Encoding `{other}`: send identity or gzip"),
            ))
        }
    };
    let mut lease = budget.lease();
    // A declared length is covered before anything is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared {
        if n > limit {
            return Err(too_large(limit));
        }
        lease.cover(n)?;
    }
    let mut body = http_body_util::Limited::new(body, limit);
    let mut raw = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large(limit)
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })?;
        if let Ok(data) = frame.into_data() {
            lease.cover(raw.len() + data.len())?;
            raw.extend_from_slice(&data);
        }
    }
    let raw = Bytes::from(raw);
    if !gzip {
        return Ok((raw, lease));
    }
    // Inflating is CPU work: off the async workers, so other requests and pushes go on.
    tokio::task::spawn_blocking(move || inflate(&raw, limit, &mut lease).map(|out| (out, lease)))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("inflating the body failed: {e}")))?
}

/// Gunzips `raw`, step by step within `limit` and the lease's budget.
fn inflate(raw: &[u8], limit: usize, lease: &mut Lease) -> Result<Bytes, ApiError> {
    let mut out: Vec<u8> = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(raw);
    loop {
        lease.cover(raw.len() + out.len() + INFLATE_STEP)?;
        let start = out.len();
        out.resize(start + INFLATE_STEP, 0);
        let n = decoder
            .read(&mut out[start..])
            .map_err(|e| ApiError::bad_request(format!("invalid gzip body: {e}")))?;
        out.truncate(start + n);
        if out.len() > limit {
            return Err(too_large(limit));
        }
        if n == 0 {
            return Ok(Bytes::from(out));
        }
    }
}
