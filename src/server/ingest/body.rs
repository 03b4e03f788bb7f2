//! Request bodies as every ingest route reads them: the media type of `Content-Type`, and the
//! body with a limit that applies after decompression.

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

/// The whole body, gunzipped when `Content-Encoding: gzip`; 413 past `limit` bytes.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let raw = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large(limit)
            } else {
                ApiError::bad_request(format!("could not read the request body: {e}"))
            }
        })?
        .to_bytes();
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(raw.len() * 4);
            let mut decoder = flate2::read::GzDecoder::new(&raw[..]).take(limit as u64 + 1);
            decoder
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request(format!("invalid gzip body: {e}")))?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported Content-Encoding `{other}`: send identity or gzip"),
        )),
    }
}
