//! The HTTP surface, one router per concern, merged here.

pub mod assets;
mod auth;
mod fns;
mod guard;
mod health;
mod ingest;
mod prometheus;
mod query;
mod search;
mod security;
mod ws;

use crate::server::state::AppState;
use axum::http::{HeaderValue, Method};
use axum::{middleware, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Every route, behind (inside out) the auth guard, request tracing under an `x-request-id`
/// (kept from the client or made), CORS and the security headers.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.config);
    let app = Router::new()
        .merge(auth::router())
        .merge(query::router())
        .merge(search::router())
        .merge(ingest::router())
        .merge(super::otlp::http::router())
        .merge(health::router())
        .merge(prometheus::router())
        .merge(fns::router())
        .merge(ws::router())
        .fallback(assets::serve)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
                // The path, never the query string or headers: no token reaches a log line.
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(middleware::from_fn(security::headers))
}

/// `cors = true` allows any origin (bearer tokens only: no cookies cross-origin);
/// `cors_origins` lists the origins allowed.
fn cors(config: &crate::server::config::Config) -> Option<CorsLayer> {
    use axum::http::header;
    let origins = if config.cors {
        AllowOrigin::any()
    } else if !config.cors_origins.is_empty() {
        AllowOrigin::list(config.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    } else {
        return None;
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::CONTENT_ENCODING]),
    )
}
