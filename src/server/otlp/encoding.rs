//! The two encodings of OTLP/HTTP (protobuf and JSON) and decoding a request in either.

use crate::error::{ApiError, ErrorCode};
use crate::server::ingest::body::media_type_of;
use axum::http::HeaderMap;
use prost::Message;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mime = media_type_of(headers);
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

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
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
