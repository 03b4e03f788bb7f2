//! The one error type that crosses the wire, shared by the server and the browser.
//!
//! Every failure a client sees has this JSON shape:
//! `{"code":"bad_request","message":"…","details":[{"index":3,"field":"level","message":"…"}]}`.
//! The server maps [`ErrorCode`] to an HTTP status in one place (`server::error`).

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What kind of failure happened; each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    /// A rate limit was reached (429 + Retry-After).
    TooManyRequests,
    Overloaded,
    Internal,
}

/// One problem with one field of one item of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// Position of the item in the batch (array index or NDJSON line, from 0), or of the
    /// character in a query (from 0) where it stops making sense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Dotted path of the field, e.g. `attributes.user` or `type`.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// The wire error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} `{id}` not found"))
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }
    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let code = match value {
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::Deserialization(_) => ErrorCode::BadRequest,
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorCode::Overloaded,
            _ => ErrorCode::Internal,
        };
        Self::new(code, value.to_string())
    }
}
