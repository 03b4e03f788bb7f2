//! Native ingest: `POST /api/v1/events`.

use crate::error::ApiError;
use crate::server::ingest::native::{decode, Format};
use crate::server::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/events", post(events))
}

#[derive(Serialize)]
struct Accepted {
    accepted: usize,
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let format = Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))?;
    let bytes = super::read_body(&headers, body, state.config.max_body_bytes).await?;
    let events = match decode(&bytes, format, &state.config.limits, state.config.max_batch_events) {
        Ok(events) => events,
        Err(e) => {
            state.ingest.count_rejected(
                e.details
                    .iter()
                    .filter_map(|d| d.index)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    .max(1),
            );
            return Err(e);
        }
    };
    let accepted = state.ingest.submit(events).await?;
    Ok((StatusCode::OK, Json(Accepted { accepted })))
}
