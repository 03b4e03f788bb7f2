//! The REST API over the hub and the store: reads of every resource, and the alert actions
//! (acknowledge, silence) that change state.

use crate::error::ApiError;
use crate::model::{AckRequest, Labels, Principal, SilenceRequest};
use crate::model::{ExecutionStatus, TimeRange};
use crate::server::error::ApiJson;
use crate::server::error::ApiQuery;
use crate::server::store::ExecutionQuery;
use crate::server::{service, state::AppState};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/overview",
            get(|State(s): State<AppState>| async move { Json(service::overview(&s)) }),
        )
        .route(
            "/api/metrics",
            get(|State(s): State<AppState>| async move { Json(service::metrics(&s)) }),
        )
        .route(
            "/api/agents",
            get(|State(s): State<AppState>| async move { Json(service::agents(&s)) }),
        )
        .route(
            "/api/ingest/health",
            get(|State(s): State<AppState>| async move { Json(service::ingest_health(&s)) }),
        )
        .route("/api/agents/{id}", get(agent))
        .route("/api/agents/{id}/series", get(agent_series))
        .route("/api/workflows/{id}", get(workflow))
        .route("/api/series", get(series))
        .route("/api/executions", get(executions))
        .route("/api/executions/{id}", get(execution))
        .route("/api/executions/{id}/logs", get(logs))
        .route("/api/executions/{id}/spans", get(spans))
        .route(
            "/api/workflows",
            get(|State(s): State<AppState>| async move { Json(service::workflows(&s)) }),
        )
        .route(
            "/api/llm",
            get(|State(s): State<AppState>| async move { Json(service::llm(&s)) }),
        )
        .route(
            "/api/plugins",
            get(|State(s): State<AppState>| async move { Json(service::plugins(&s)) }),
        )
        .route(
            "/api/system",
            get(|State(s): State<AppState>| async move { Json(service::system(&s)) }),
        )
        .route(
            "/api/health",
            get(|State(s): State<AppState>| async move { Json(service::health(&s).await) }),
        )
        .route(
            "/api/alerts",
            get(|State(s): State<AppState>| async move { Json(service::alerts(&s)) }),
        )
        .route("/api/alerts/{id}/ack", post(ack))
        .route("/api/alerts/{id}/unack", post(unack))
        .route(
            "/api/silences",
            get(|State(s): State<AppState>| async move { Json(service::alerts(&s).silences) }).post(silence),
        )
        .route("/api/silences/preview", post(preview))
        .route("/api/silences/{id}", delete(expire))
        .route("/api/{*rest}", get(unknown_api).post(unknown_api))
}

async fn unknown_api(Path(rest): Path<String>) -> ApiError {
    ApiError::not_found("API route", &format!("/api/{rest}"))
}

async fn workflow(State(s): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::workflow(&s, &id).await?))
}

async fn agent(State(s): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::agent(&s, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeParams {
    #[serde(default)]
    range: TimeRange,
}

async fn series(State(s): State<AppState>, ApiQuery(p): ApiQuery<RangeParams>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::series(&s, p.range).await?))
}

async fn agent_series(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<RangeParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::agent_series(&s, &id, p.range).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutionParams {
    agent_id: Option<String>,
    workflow_id: Option<String>,
    status: Option<ExecutionStatus>,
    /// A query of the search language.
    q: Option<String>,
    /// The environment every page is scoped to (the top bar's switcher).
    env: Option<String>,
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    limit: u64,
}

async fn executions(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<ExecutionParams>,
) -> Result<impl IntoResponse, ApiError> {
    let query = ExecutionQuery {
        agent_id: p.agent_id,
        workflow_id: p.workflow_id,
        status: p.status,
        filter: service::search_filter(p.q.as_deref(), p.env.as_deref())?,
        offset: p.offset,
        limit: p.limit,
        ..Default::default()
    };
    Ok(Json(service::executions(&s, query).await?))
}

async fn execution(State(s): State<AppState>, Path(id): Path<String>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::execution(&s, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    after: Option<u64>,
    limit: Option<u64>,
}

async fn logs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<LogParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::logs(&s, &id, p.after, p.limit).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanParams {
    limit: Option<u64>,
}

async fn spans(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<SpanParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::spans(&s, &id, p.limit).await?))
}

/// With authentication on, actions are recorded under the signed-in name, whatever `by` says.
fn actor(principal: Option<Extension<Principal>>, by: String) -> String {
    principal.map_or(by, |Extension(p)| p.name)
}

async fn ack(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    ApiJson(mut req): ApiJson<AckRequest>,
) -> Result<impl IntoResponse, ApiError> {
    req.by = actor(principal, req.by);
    Ok(Json(service::acknowledge(&s, &id, req).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByWhom {
    by: String,
}

async fn unack(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ByWhom>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::unacknowledge(&s, &id, &actor(principal, req.by)).await?))
}

async fn silence(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(mut req): ApiJson<SilenceRequest>,
) -> Result<impl IntoResponse, ApiError> {
    req.created_by = actor(principal, req.created_by);
    Ok(Json(service::silence(&s, req).await?))
}

async fn preview(State(s): State<AppState>, ApiJson(matchers): ApiJson<Labels>) -> impl IntoResponse {
    Json(service::silence_preview(&s, matchers))
}

async fn expire(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    ApiQuery(by): ApiQuery<ByWhom>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::expire_silence(&s, &id, &actor(principal, by.by)).await?))
}
