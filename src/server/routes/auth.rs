//! Sign-in for the browser: `POST /api/auth/login` trades a token for an HttpOnly,
//! SameSite=Strict session cookie, `POST /api/auth/logout` ends it, `GET /api/auth/me` says
//! who is signed in.

use crate::error::{ApiError, ErrorCode};
use crate::model::{Principal, SessionInfo};
use crate::server::auth::{unauthorized, COOKIE};
use crate::server::error::ApiJson;
use crate::server::state::AppState;
use crate::server::store::WriteBatch;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

async fn login(State(s): State<AppState>, headers: HeaderMap, ApiJson(req): ApiJson<Login>) -> Response {
    if !s.auth.enabled() {
        return ApiError::new(
            ErrorCode::Conflict,
            "authentication is off (no [auth] tokens are configured): there is nothing to sign in to",
        )
        .into_response();
    }
    if let Err(e) = s.auth.sign_ins.admit() {
        tracing::warn!("sign-in refused: paused after too many failures");
        let mut resp = e.into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return resp;
    }
    let Some(principal) = s.auth.verify_token(req.token.trim()) else {
        s.auth.sign_ins.failed();
        tracing::warn!(failures = s.auth.sign_ins.failures(), "sign-in refused: unknown token");
        return unauthorized("unknown token").into_response();
    };
    tracing::info!(name = %principal.name, role = principal.role.as_str(), "signed in");
    let (id, row) = s.auth.start_session(principal.clone());
    // Durable before the cookie is handed out: the session survives a restart.
    let stored = s.store.commit(WriteBatch {
        sessions: vec![row],
        ..Default::default()
    });
    if let Err(e) = stored.await {
        return ApiError::from(e).into_response();
    }
    if let Some(f) = &s.fleet {
        f.sessions_changed().await;
    }
    let cookie = cookie(&s, &headers, &id, s.auth.session_ttl().as_secs());
    (
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(SessionInfo {
            auth_enabled: true,
            principal: Some(principal),
        }),
    )
        .into_response()
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    // Forgotten by the store first, so a restart cannot bring the session back.
    if let Some(digest) = s.auth.session_digest(&headers) {
        let forgotten = s.store.commit(WriteBatch {
            ended_sessions: vec![digest],
            ..Default::default()
        });
        if let Err(e) = forgotten.await {
            return ApiError::from(e).into_response();
        }
    }
    s.auth.end_session(&headers);
    if let Some(f) = &s.fleet {
        f.sessions_changed().await;
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cookie(&s, &headers, "", 0))],
    )
        .into_response()
}

async fn me(State(s): State<AppState>, principal: Option<Extension<Principal>>) -> Json<SessionInfo> {
    Json(SessionInfo {
        auth_enabled: s.auth.enabled(),
        principal: principal.map(|Extension(p)| p),
    })
}

/// `Secure` when the request came over TLS (directly or through a proxy that says so) or
/// when configured.
fn cookie(s: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> HeaderValue {
    let tls = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if tls || s.auth.secure_cookie { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}
