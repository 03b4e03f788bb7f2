//! The domain model: plain serde types shared by the server and the browser. No IO here.
//!
//! Timestamps are milliseconds since the Unix epoch (`i64`), durations are milliseconds.

mod alert;
mod auth;
mod entities;
mod event;
mod ingest;
mod overview;
mod series;
mod span;
mod status;
mod tokens;

pub use alert::*;
pub use auth::*;
pub use entities::*;
pub use event::*;
pub use ingest::*;
pub use overview::*;
pub use series::*;
pub use span::*;
pub use status::*;
pub use tokens::TokenUsage;

/// Labels and attributes keep a stable order on the wire.
pub type Labels = std::collections::BTreeMap<String, String>;
pub type Attributes = std::collections::BTreeMap<String, serde_json::Value>;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Number of items matching the filter, across all pages (up to [`MAX_COUNT`] executions:
    /// see `more`).
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
    /// Counting stopped at `total`: more match (a broad search of a large store is not
    /// counted to the end).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
}

/// Most executions a listing counts.
pub const MAX_COUNT: u64 = 10_000;
