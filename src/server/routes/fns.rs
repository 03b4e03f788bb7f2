//! Leptos server functions under `/api/fn/…`, with the app state in their context.

use crate::model::Principal;
use crate::server::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use leptos::prelude::provide_context;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/fn/{*fn_name}", get(handle).post(handle))
}

/// The app state and the signed-in principal (when authentication is on) are in context.
async fn handle(State(state): State<AppState>, req: Request<Body>) -> impl IntoResponse {
    let principal = req.extensions().get::<Principal>().cloned();
    leptos_axum::handle_server_fns_with_context(
        move || {
            provide_context(state.clone());
            provide_context(principal.clone());
        },
        req,
    )
    .await
}
