//! Observatory as a library, after MoFA's `mofa_monitoring`: build a [`DashboardConfig`],
//! start a [`DashboardServer`], and feed it from the same process through its [`Collector`].
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use observatory::{DashboardConfig, DashboardServer};
//! use std::time::Duration;
//! let config = DashboardConfig::new().with_host("127.0.0.1").with_port(8080).with_ws_interval(Duration::from_secs(1));
//! let server = DashboardServer::new(config).await?;
//! let collector = server.collector();
//! collector.log("exec-1", observatory::model::LogLevel::Info, "hello").await?;
//! server.serve().await
//! # }
//! ```

use super::{config::Config, state::AppState};
use crate::error::ApiError;
use crate::model::*;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A builder over [`Config`].
#[derive(Debug, Clone, Default)]
pub struct DashboardConfig {
    config: Config,
}

impl DashboardConfig {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_host(mut self, host: &str) -> Self {
        if let Ok(ip) = host.parse::<IpAddr>() {
            self.config.listen.set_ip(ip);
        } else if host == "localhost" {
            self.config.listen.set_ip(IpAddr::from([127, 0, 0, 1]));
        }
        self
    }
    pub fn with_port(mut self, port: u16) -> Self {
        self.config.listen.set_port(port);
        self
    }
    pub fn with_cors(mut self, enabled: bool) -> Self {
        self.config.cors = enabled;
        self
    }
    pub fn with_ws_interval(mut self, interval: Duration) -> Self {
        self.config.ws_interval = interval;
        self
    }
    /// Bearer tokens with the `admin` role (named `token-1`, `token-2`, …); the browser signs
    /// in with one of them. Use `[auth]` in the configuration for other roles.
    pub fn with_auth(mut self, tokens: Vec<String>) -> Self {
        use super::auth::{hash_token, Role, TokenConfig};
        self.config.auth.tokens = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| TokenConfig {
                name: format!("token-{}", i + 1),
                role: Role::Admin,
                sha256: hash_token(t),
            })
            .collect();
        self
    }
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.data_dir = dir.into();
        self
    }
    /// PostgreSQL (`postgres://USER@HOST:PORT/DB`) instead of the embedded store.
    pub fn with_store(mut self, url: impl Into<String>) -> Self {
        self.config.store = Some(url.into());
        self
    }
    /// Joins a fleet over NATS JetStream (`nats://HOST:PORT`, with [`Self::with_store`] on
    /// PostgreSQL) on the stream `stream` (one per fleet).
    pub fn with_bus(mut self, url: impl Into<String>, stream: impl Into<String>) -> Self {
        self.config.bus = Some(url.into());
        self.config.bus_stream = stream.into();
        self
    }
    pub fn with_demo(mut self, demo: bool) -> Self {
        self.config.demo = demo;
        self
    }
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.config.retention = retention;
        self
    }
    pub fn from_config(config: Config) -> Self {
        Self { config }
    }
    pub fn listen(&self) -> SocketAddr {
        self.config.listen
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// A running Observatory: store opened, hub restored, ingest pipeline started.
pub struct DashboardServer {
    state: AppState,
}

impl DashboardServer {
    pub async fn new(config: DashboardConfig) -> anyhow::Result<Self> {
        config.config.validate()?;
        Ok(Self {
            state: AppState::open(config.config).await?,
        })
    }

    /// Wraps state opened elsewhere (tests, custom set-ups).
    pub fn from_state(state: AppState) -> Self {
        Self { state }
    }

    /// The in-process ingest handle.
    pub fn collector(&self) -> Collector {
        Collector {
            state: self.state.clone(),
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The full HTTP surface, to serve yourself or to nest in your own router.
    pub fn build_router(&self) -> axum::Router {
        super::routes::router(self.state.clone())
    }

    /// Binds `listen`, runs the background tasks (host sampler, retention, demo when
    /// enabled) and serves until SIGINT or SIGTERM, then flushes the store.
    pub async fn serve(self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.state.config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", self.state.config.listen))?;
        // The served binary compresses its dashboard once, up front, off the async threads
        // (servers started with `serve_on`, as tests do, compress on first request).
        tokio::task::spawn_blocking(super::routes::assets::warm);
        self.serve_on(listener, shutdown_signal()).await
    }

    /// Like [`DashboardServer::serve`] on a listener you bound, until `shutdown` completes.
    /// The OTLP/gRPC receiver binds `otlp_grpc_listen` unless that is off.
    pub async fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grpc = match self.state.config.otlp_grpc_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen for OTLP/gRPC on {addr}: {e}"))?,
            ),
            None => None,
        };
        self.serve_with(listener, grpc, shutdown).await
    }

    /// Serves HTTP on `listener` and OTLP/gRPC on `grpc` (when given) until `shutdown`
    /// completes, then stops both and flushes the store.
    pub async fn serve_with(
        self,
        listener: tokio::net::TcpListener,
        grpc: Option<tokio::net::TcpListener>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let addr = listener.local_addr()?;
        let mut tasks = vec![
            tokio::spawn(super::system::sample_host(state.ingest.clone())),
            tokio::spawn(retention_loop(state.clone())),
            tokio::spawn(super::ingest::abandon::run(
                state.hub.clone(),
                state.ingest.clone(),
                state.config.abandon_after,
                state.role.clone(),
            )),
            tokio::spawn(retire_loop(state.clone())),
            tokio::spawn(state.live.clone().run(state.config.ws_interval)),
            tokio::spawn(
                state
                    .alerts
                    .clone()
                    .run(state.config.alerts.eval_interval, state.ingest.clone()),
            ),
        ];
        if let Some(fleet) = &state.fleet {
            let parts = super::fleet::follow::Parts {
                hub: state.hub.clone(),
                store: state.store.clone(),
                ingest: state.ingest.clone(),
                live: state.live.clone(),
                alerts: state.alerts.clone(),
            };
            tasks.extend([
                tokio::spawn(super::fleet::run(fleet.clone(), parts)),
                tokio::spawn(fleet.clone().purge()),
                tokio::spawn(fleet.clone().sync_sessions(state.auth.clone())),
                tokio::spawn(state.alerts.clone().serve_commands()),
                tokio::spawn(state.alerts.clone().follow_changes()),
            ]);
        }
        if state.config.demo {
            tasks.push(tokio::spawn(super::demo::run(
                state.ingest.clone(),
                state.store.clone(),
            )));
        }
        // One shutdown signal for both servers.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let grpc_task = match grpc {
            Some(l) => {
                let grpc_addr = l.local_addr()?;
                tracing::info!(%grpc_addr, "otlp/grpc listening");
                Some(tokio::spawn(super::otlp::grpc::serve(
                    state.otlp.clone(),
                    state.auth.clone(),
                    l,
                    stopped(stop_rx.clone()),
                )))
            }
            None => None,
        };
        let store = match &state.config.store {
            Some(url) => crate::server::store::postgres::redacted(url),
            None => format!("sqlite in {}", state.config.data_dir.display()),
        };
        let bus = state.config.bus.as_deref().unwrap_or("none (one instance)");
        tracing::info!(%addr, demo = state.config.demo, store, bus, "observatory listening on http://{addr}");
        let app = super::routes::router(state.clone());
        // A peer that stops reading holds at most this much in the kernel for each socket
        // (autotuned, it grows to megabytes): a WebSocket client that never reads is found
        // out, and dropped from what it watches, after a few thousand lines, not tens.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
            let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(SEND_BUFFER_BYTES);
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stopped(stop_rx))
            .await;
        if let Some(t) = grpc_task {
            match t.await {
                Ok(Err(e)) => tracing::error!(error = %e, "otlp/grpc server failed"),
                Err(e) => tracing::error!(error = %e, "otlp/grpc task failed"),
                Ok(Ok(())) => {}
            }
        }
        served?;
        tracing::info!("shutting down: flushing the store");
        for t in tasks {
            t.abort();
        }
        state.store.close().await;
        tracing::info!("store flushed; bye");
        Ok(())
    }
}

async fn retention_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    tick.tick().await;
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        // In a fleet, the leader keeps the shared store.
        if !state.role.is_leading() {
            tick.tick().await;
            continue;
        }
        let cutoff = crate::server::clock::now_ms() - state.config.retention.as_millis() as i64;
        let max_bytes = state.config.retention_size.map(|s| s.as_u64());
        match state.store.retain(cutoff, max_bytes).await {
            Ok(r) => tracing::info!(
                executions = r.executions,
                logs = r.logs,
                samples = r.samples,
                by_size = r.by_size,
                reclaimed_bytes = r.reclaimed_bytes,
                "retention applied"
            ),
            Err(e) => tracing::error!(error = %e, "retention failed"),
        }
        tick.tick().await;
    }
}

/// The kernel's send buffer of each HTTP and WebSocket connection.
const SEND_BUFFER_BYTES: usize = 256 * 1024;

/// Takes what has been idle for `retire_after` out of the live set, every quarter of it (at
/// most every minute), and tells the live clients.
async fn retire_loop(state: AppState) {
    let mut tick = tokio::time::interval((state.config.retire_after / 4).min(Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let retired = state.hub.retire(crate::server::clock::now_ms());
        if !retired.is_empty() {
            tracing::info!(
                agents = retired.agents.len(),
                tools = retired.tools,
                models = retired.models,
                workflows = retired.workflows,
                hosts = retired.hosts,
                "idle entities left the live set (their history stays in the store)"
            );
            state.live.retired(&retired);
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Feeds the server from the same process. Every call goes through the same validation
/// and pipeline as HTTP ingest, and returns once the data is durable.
#[derive(Clone)]
pub struct Collector {
    state: AppState,
}

impl Collector {
    /// Sends any events at once.
    pub async fn send(&self, events: Vec<Event>) -> Result<usize, ApiError> {
        let limits = self.state.config.limits;
        for (i, e) in events.iter().enumerate() {
            let problems = e.validate(&limits);
            if !problems.is_empty() {
                let details = problems.into_iter().map(|mut p| {
                    p.index = Some(i);
                    p
                });
                return Err(
                    ApiError::bad_request(format!("invalid {} event", e.type_name())).with_details(details.collect())
                );
            }
        }
        Ok(self.state.ingest.submit(events).await?.accepted)
    }

    pub async fn update_agent(&self, agent: AgentEvent) -> Result<(), ApiError> {
        self.send(vec![Event::Agent(agent)]).await.map(drop)
    }
    pub async fn update_workflow(&self, workflow: WorkflowEvent) -> Result<(), ApiError> {
        self.send(vec![Event::Workflow(workflow)]).await.map(drop)
    }
    /// Records one LLM call; the per-model aggregates (MoFA's `LLMMetrics`) follow from it.
    pub async fn update_llm(&self, call: LlmCallEvent) -> Result<(), ApiError> {
        self.send(vec![Event::LlmCall(call)]).await.map(drop)
    }
    pub async fn update_plugin(&self, plugin: PluginEvent) -> Result<(), ApiError> {
        self.send(vec![Event::Plugin(plugin)]).await.map(drop)
    }
    pub async fn update_system(&self, sample: SystemEvent) -> Result<(), ApiError> {
        self.send(vec![Event::System(sample)]).await.map(drop)
    }
    pub async fn record_tool_call(&self, call: ToolCallEvent) -> Result<(), ApiError> {
        self.send(vec![Event::ToolCall(call)]).await.map(drop)
    }
    /// Creates or updates an execution.
    pub async fn execution(&self, execution: ExecutionEvent) -> Result<(), ApiError> {
        self.send(vec![Event::Execution(execution)]).await.map(drop)
    }
    pub async fn execution_status(
        &self,
        execution_id: &str,
        status: ExecutionStatus,
        error: Option<String>,
    ) -> Result<(), ApiError> {
        let ev = StatusEvent {
            execution_id: execution_id.into(),
            status,
            error,
            ..Default::default()
        };
        self.send(vec![Event::Status(ev)]).await.map(drop)
    }
    pub async fn log(&self, execution_id: &str, level: LogLevel, message: impl Into<String>) -> Result<(), ApiError> {
        let ev = LogEvent {
            execution_id: execution_id.into(),
            level,
            message: message.into(),
            ..Default::default()
        };
        self.send(vec![Event::Log(ev)]).await.map(drop)
    }
}
