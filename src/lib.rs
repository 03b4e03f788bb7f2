//! Observatory: a self-hosted, real-time observability server and dashboard for AI-agent
//! systems. The same crate is the server (feature `ssr`) and the browser app (feature `csr`).

#[cfg(all(feature = "ssr", feature = "csr"))]
compile_error!("features `ssr` and `csr` are mutually exclusive: build the server with `--features ssr`, the browser app with `--features csr`");

pub mod api;
pub mod charts;
pub mod error;
pub mod format;
pub mod model;
pub mod search;
pub mod stream;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "csr")]
pub mod ui;

#[cfg(feature = "ssr")]
pub use server::{Collector, DashboardConfig, DashboardServer};
