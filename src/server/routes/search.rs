//! Finding runs over REST: sessions, users, environments, saved views, and the streamed
//! export of any query.

use crate::error::ApiError;
use crate::model::{GroupBy, Principal, SaveViewRequest};
use crate::server::error::{ApiJson, ApiQuery};
use crate::server::service::{self, Export, ExportFormat, GroupParams};
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", get(sessions))
        .route("/api/sessions/{id}", get(session))
        .route("/api/users", get(users))
        .route("/api/users/{id}", get(user))
        .route("/api/environments", get(environments))
        .route("/api/views", get(views).post(save_view))
        .route("/api/views/{name}", delete(delete_view))
        .route("/api/executions/export", get(export))
}

async fn sessions(
    State(s): State<AppState>,
    ApiQuery(p): ApiQuery<GroupParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::groups(&s, GroupBy::Session, p).await?))
}

async fn session(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<GroupParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::group(&s, GroupBy::Session, &id, p).await?))
}

async fn users(State(s): State<AppState>, ApiQuery(p): ApiQuery<GroupParams>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::groups(&s, GroupBy::User, p).await?))
}

async fn user(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<GroupParams>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::group(&s, GroupBy::User, &id, p).await?))
}

async fn environments(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::environments(&s).await?))
}

async fn views(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(service::views(&s).await?))
}

async fn save_view(
    State(s): State<AppState>,
    principal: Option<Extension<Principal>>,
    ApiJson(req): ApiJson<SaveViewRequest>,
) -> Result<impl IntoResponse, ApiError> {
    // Without authentication there is no one to name.
    let who = principal.map_or_else(|| "anonymous".to_string(), |Extension(p)| p.name);
    Ok(Json(service::save_view(&s, &who, req).await?))
}

async fn delete_view(State(s): State<AppState>, Path(name): Path<String>) -> Result<impl IntoResponse, ApiError> {
    service::delete_view(&s, &name).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    q: Option<String>,
    env: Option<String>,
    format: Option<ExportFormat>,
    /// Most executions exported; all that match when absent.
    limit: Option<u64>,
}

/// Streams the file as it is read: a failure after the first part ends the body early
/// (the client sees a truncated transfer, never a silently short file with a 200 trailer).
async fn export(State(s): State<AppState>, ApiQuery(p): ApiQuery<ExportParams>) -> Result<Response, ApiError> {
    let format = p.format.unwrap_or(ExportFormat::Jsonl);
    let mut export = Export::new(s, p.q.as_deref(), p.env.as_deref(), format, p.limit)?;
    // The first part before answering, so a bad query or a failing store is a clean error.
    let first = export.next().await?;
    let rest = futures::stream::unfold(Some(export), |state| async move {
        let mut export = state?;
        match export.next().await {
            Ok(Some(part)) => Some((Ok::<_, std::io::Error>(part), Some(export))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.message)), None)),
        }
    });
    let body = futures::StreamExt::chain(futures::stream::iter(first.map(Ok::<_, std::io::Error>)), rest);
    let name = format!("executions.{}", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.media_type().to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
