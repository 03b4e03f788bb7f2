//! Native ingest: `POST /api/v1/events`.

use crate::error::ApiError;
use crate::server::ingest::body::{decode_body, read_body};
use crate::server::ingest::native::{decode, Format};
use crate::server::ingest::Rejection;
use crate::server::state::AppState;
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
    /// Events whose agent's live aggregates folded into the overflow agent (all stored).
    #[serde(skip_serializing_if = "is_zero")]
    folded: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let refused = |e: ApiError| {
        state.ingest.count_rejected(Rejection::of(&e), 1);
        e
    };
    let format =
        Format::from_content_type(headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())).map_err(refused)?;
    // The lease holds the body's bytes in the ingest budget until the answer.
    let (bytes, _lease) = read_body(&headers, body, state.config.max_body_bytes, state.ingest.budget())
        .await
        .map_err(refused)?;
    let (limits, max_events) = (state.config.limits, state.config.max_batch_events);
    let decoded = decode_body(bytes, move |b| decode(b, format, &limits, max_events)).await;
    let events = match decoded {
        Ok(events) => events,
        Err(e) => {
            let items = e
                .details
                .iter()
                .filter_map(|d| d.index)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let reason = if items > 0 {
                Rejection::Validation
            } else {
                Rejection::of(&e)
            };
            state.ingest.count_rejected(reason, items.max(1));
            return Err(e);
        }
    };
    let receipt = state.ingest.submit(events).await?;
    let warning = receipt.warning(state.config.limits.max_agents);
    Ok((
        StatusCode::OK,
        Json(Accepted {
            accepted: receipt.accepted,
            folded: receipt.folded,
            warning,
        }),
    ))
}
