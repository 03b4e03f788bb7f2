//! Probes: `/health` and `/health/live` (the process answers), `/health/ready` (each check
//! of `server::health`: 200 healthy or degraded, 503 unhealthy).

use crate::server::{service, state::AppState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(live))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "healthy" }))
}

async fn ready(State(s): State<AppState>) -> (StatusCode, Json<crate::model::HealthReport>) {
    let report = service::health(&s).await;
    let code = if report.status == "unhealthy" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(report))
}
