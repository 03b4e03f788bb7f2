//! The state every handler and server function reaches, and how it is assembled: the store
//! opened, the hub rebuilt from it, the ingest pipeline, the live push, alerting, OTLP and
//! auth started over them.

use super::alerts::{self, Alerts};
use super::bus::{Bus, Role};
use super::clock::now_ms;
use super::clock::Recent;
use super::config::Config;
use super::fleet::Fleet;
use super::hub::{self, Hub};
use super::ingest::{self, Ingest};
use super::push::Live;
use super::store::{self, Store};
use super::{auth, otlp, prometheus, system};
use crate::model::HealthReport;

/// A readiness report answers every check for this long: probe loops (load balancers, curl)
/// reach the store at most once per it, whatever their number.
const REPORT_TTL: std::time::Duration = std::time::Duration::from_secs(1);
use std::sync::Arc;

/// What every handler and server function can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub store: Arc<dyn Store>,
    pub ingest: Ingest,
    pub live: Live,
    pub alerts: Alerts,
    /// Tokens, sessions and ingest rate limits.
    pub auth: Arc<auth::Auth>,
    /// What OTLP/HTTP and OTLP/gRPC hand their requests to.
    pub otlp: Arc<otlp::Receiver>,
    /// Label caps of `/metrics`, kept so series stay stable between scrapes.
    pub metrics: Arc<prometheus::Caps>,
    pub started_at: std::time::Instant,
    /// The last readiness report (`/health/ready`), reused for a second.
    pub health: Arc<Recent<HealthReport>>,
    /// This instance's fleet, when it is part of one (`--bus`).
    pub fleet: Option<Arc<Fleet>>,
    /// Whether this instance leads (always, alone).
    pub role: Arc<Role>,
}

/// The OTLP/HTTP routes take only the receiver from the state.
impl axum::extract::FromRef<AppState> for Arc<otlp::Receiver> {
    fn from_ref(state: &AppState) -> Self {
        state.otlp.clone()
    }
}

impl AppState {
    /// Opens the store (PostgreSQL at `config.store`, else SQLite in `config.data_dir`),
    /// joins the fleet at `config.bus` if any, rebuilds the hub from the store and starts the
    /// ingest pipeline.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        use anyhow::Context;
        let retention = config.retention.as_secs();
        let Some(url) = &config.store else {
            let store = store::SqliteStore::open(&config.data_dir, retention)
                .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            return Self::with_store(config, Arc::new(store)).await;
        };
        let store = Arc::new(
            store::PgStore::open(url, retention)
                .await
                .with_context(|| format!("opening the PostgreSQL store at {}", store::postgres::redacted(url)))?,
        );
        let fleet = match &config.bus {
            Some(bus) => Some(Arc::new(Fleet {
                bus: Bus::connect(bus, &config.bus_stream).await?,
                role: Role::follower(),
                store: store.clone(),
            })),
            None => None,
        };
        Self::assemble(config, store, fleet).await
    }

    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        Self::assemble(config, store, None).await
    }

    async fn assemble(config: Config, store: Arc<dyn Store>, fleet: Option<Arc<Fleet>>) -> anyhow::Result<Self> {
        let now = now_ms();
        let role = fleet.as_ref().map_or_else(Role::solo, |f| f.role.clone());
        let bus = fleet.as_ref().map(|f| f.bus.clone());
        let link = fleet.as_ref().map(|f| alerts::fleet::Link {
            bus: f.bus.clone(),
            role: f.role.clone(),
        });
        let limits = hub::LiveLimits {
            max_agents: config.limits.max_agents,
            retire_after_ms: config.retire_after.as_millis() as i64,
        };
        let hub = Arc::new(Hub::new(config.prices.clone(), system::host_name(), limits));
        let reloaded = hub.reload(store.as_ref(), now).await?;
        if let Some(fleet) = &fleet {
            // The stream is followed from the snapshot's position (`fleet::follow`).
            fleet.bus.set_applied(reloaded.bus_position);
        }
        tracing::info!(
            agents = reloaded.agents,
            executions = reloaded.executions,
            "restored state from the store"
        );
        if reloaded.skipped > 0 {
            tracing::warn!(
                rows = reloaded.skipped,
                "stored rows that do not decode were left out of the live state (see the errors above)"
            );
        }
        let live = Live::new(hub.clone());
        let external_url = format!("http://{}", config.listen);
        let alerts = Alerts::open(
            &config.alerts,
            external_url,
            hub.clone(),
            store.clone(),
            live.clone(),
            link,
        )
        .await?;
        let redactor = Arc::new(ingest::Redactor::new(&config.redact_keys));
        let (ingest, _pipeline) = Ingest::start(
            hub.clone(),
            store.clone(),
            live.clone(),
            config.ingest_queue,
            redactor.clone(),
            ingest::Budget::new(config.ingest_memory.as_u64() as usize),
            bus,
        );
        let otlp = Arc::new(otlp::Receiver::new(
            ingest.clone(),
            config.limits,
            config.max_otlp_body_bytes,
            redactor,
        ));
        let auth = Arc::new(auth::Auth::new(&config.auth, config.ingest_rate_limit));
        auth.restore_sessions(store.sessions(now).await?);
        Ok(Self {
            config: Arc::new(config),
            hub,
            store,
            ingest,
            live,
            alerts,
            auth,
            otlp,
            metrics: Arc::default(),
            started_at: std::time::Instant::now(),
            health: Arc::new(Recent::new(REPORT_TTL)),
            fleet,
            role,
        })
    }
}
