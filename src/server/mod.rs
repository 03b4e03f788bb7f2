//! The server: configuration, the ingest pipeline, the hub, the store and the HTTP surface.
//! [`DashboardServer`] is the library entry point; `cli` is the binary's.

pub mod alerts;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod clock;
pub mod config;
mod dashboard;
pub mod demo;
pub mod error;
pub mod fleet;
mod health;
pub mod hub;
pub mod ingest;
pub mod otlp;
pub mod prometheus;
pub mod push;
pub mod routes;
pub mod service;
pub mod state;
pub mod store;
mod system;

pub use clock::now_ms;
pub use config::Config;
pub use dashboard::{Collector, DashboardConfig, DashboardServer};
pub use routes::router;
pub use state::AppState;
