//! `GET /ws`: the live WebSocket.

use crate::server::push::{run_connection, Heartbeat};
use crate::server::state::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    // A socket opened in a browser session closes when the session ends.
    let session = state.auth.session_of(&headers);
    ws.max_message_size(64 * 1024).on_upgrade(move |socket| async move {
        let (sink, stream) = socket.split();
        let backlog = state.config.log_backlog;
        let auth = state.auth.clone();
        let ended = async move {
            match session {
                Some(key) => auth.until_ended(key).await,
                None => std::future::pending().await,
            }
        };
        run_connection(
            state.live.clone(),
            state.store.clone(),
            backlog,
            Heartbeat::default(),
            (sink, stream),
            ended,
        )
        .await;
    })
}
