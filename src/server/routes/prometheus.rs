//! `GET /metrics` (OpenMetrics or Prometheus text, by `Accept`) and `GET /metrics/json`.

use crate::error::ApiError;
use crate::server::prometheus::{families, json, text, Family, Sources};
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(exposition))
        .route("/metrics/json", get(as_json))
}

async fn exposition(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let families = collect(&state).await;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if text::wants_openmetrics(accept) {
        let body = text::openmetrics(families).map_err(|e| {
            tracing::error!(error = %e, "encoding metrics failed");
            ApiError::internal()
        })?;
        Ok(([(header::CONTENT_TYPE, text::OPENMETRICS)], body).into_response())
    } else {
        Ok(([(header::CONTENT_TYPE, text::PROMETHEUS)], text::prometheus(&families)).into_response())
    }
}

async fn as_json(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json::encode(&collect(&state).await))
}

/// Reads every source once and builds the families.
async fn collect(state: &AppState) -> Vec<Family> {
    let store_bytes = match state.store.stats().await {
        Ok(s) => Some(s.size_bytes),
        Err(e) => {
            tracing::warn!(error = %e, "store stats for metrics failed");
            None
        }
    };
    let ingest = state.ingest.stats();
    let sources = Sources {
        hub: state.hub.metrics(crate::server::clock::now_ms()),
        ingest_accepted: ingest.events_accepted,
        ingest_rejected: state.ingest.rejected_by_reason().map(|(r, n)| (r.as_str(), n)).to_vec(),
        ingest_folded: state.ingest.folded(),
        login_failures: state.auth.sign_ins.failures(),
        queue_depth: ingest.queue_depth,
        queue_capacity: ingest.queue_capacity,
        ws_connections: state.live.connections() as u64,
        store_bytes,
        version: env!("CARGO_PKG_VERSION"),
    };
    families(&sources, &state.metrics)
}
