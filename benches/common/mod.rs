//! Shared by the benchmarks: an Observatory serving on a loopback port, and percentiles.
#![allow(dead_code)]

pub mod otlp;

use observatory::server::{AppState, Collector, Config, DashboardServer};
use std::net::SocketAddr;

pub struct Bench {
    pub state: AppState,
    pub addr: SocketAddr,
    pub collector: Collector,
    /// The store's directory, removed when the bench ends.
    pub dir: tempfile::TempDir,
}

/// A fresh store in a temporary directory, served over HTTP on a free port (no gRPC).
pub async fn start() -> Bench {
    start_on(None).await
}

/// [`start`] on the given store: `Some(postgres://…)`, or the embedded one.
pub async fn start_on(store: Option<String>) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config {
        data_dir: dir.path().into(),
        store,
        otlp_grpc_listen: None,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = DashboardServer::from_state(state.clone());
    let collector = server.collector();
    tokio::spawn(server.serve_on(listener, std::future::pending()));
    Bench {
        state,
        addr,
        collector,
        dir,
    }
}

/// The value at quantile `p` of ascending `sorted`.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
