//! `GET /ws`: the live WebSocket.

use crate::server::push::{run_connection, Heartbeat};
use crate::server::state::AppState;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 * 1024).on_upgrade(move |socket| async move {
        let (sink, stream) = socket.split();
        let backlog = state.config.log_backlog;
        run_connection(
            state.live.clone(),
            state.store.clone(),
            backlog,
            Heartbeat::default(),
            sink,
            stream,
        )
        .await;
    })
}
