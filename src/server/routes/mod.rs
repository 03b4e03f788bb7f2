//! The HTTP surface, one router per concern, merged here.

pub mod assets;
mod body;
mod fns;
mod health;
mod ingest;
mod query;
mod ws;

use super::AppState;
use axum::Router;
use tower_http::cors::CorsLayer;
use tower_http::trace::TraceLayer;

pub use body::read_body;

pub fn router(state: AppState) -> Router {
    let cors = state.config.cors;
    let app = Router::new()
        .merge(query::router())
        .merge(ingest::router())
        .merge(super::otlp::http::router())
        .merge(health::router())
        .merge(fns::router())
        .merge(ws::router())
        .fallback(assets::serve)
        .with_state(state)
        .layer(TraceLayer::new_for_http());
    if cors {
        app.layer(CorsLayer::permissive())
    } else {
        app
    }
}
