//! Durable storage behind one trait, so the embedded SQLite default and a PostgreSQL
//! backend for scale-out serve the hub and the query paths the same way.

#[cfg(test)]
mod contract;
mod directory;
mod encode;
mod in_place;
mod migrations;
pub mod postgres;
mod retention;
pub mod search;
pub mod span_chunks;
mod sqlite;

pub use postgres::{Leadership, PgStore};
pub use sqlite::SqliteStore;

use crate::model::{
    Agent, Alert, AlertEvent, Execution, ExecutionStatus, LlmCall, LlmStats, LogRecord, Plugin, ResourceSample,
    RunGroup, SavedView, Silence, Span, StoreStats, SystemSample, ToolCall, Workflow,
};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", postgres_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store is closed")]
    Closed,
    #[error("no execution `{0}` is stored for these spans or log lines")]
    NoExecution(String),
    #[error("schema version {found} is newer than this build understands ({known})")]
    FutureSchema { found: i64, known: i64 },
    #[error(
        "the store's stream position is {found}, not {expected}: another instance wrote it (this one no longer leads)"
    )]
    Fenced { expected: u64, found: u64 },
}

/// PostgreSQL's own words for an error (`duplicate key value violates unique constraint …`),
/// or the driver's with its cause (`error performing TLS handshake: invalid peer certificate: …`),
/// which the driver's `Display` leaves out.
fn postgres_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// A store failure reaches clients as a bare 500; its cause is logged here.
impl From<StoreError> for crate::error::ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        crate::error::ApiError::internal()
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything one group commit writes. Entities are written whole (upserts of their latest
/// state); records are appended.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    pub agents: Vec<Agent>,
    pub executions: Vec<Execution>,
    pub workflows: Vec<Workflow>,
    pub llm: Vec<LlmStats>,
    pub plugins: Vec<Plugin>,
    pub logs: Vec<LogRecord>,
    pub llm_calls: Vec<LlmCall>,
    pub tool_calls: Vec<ToolCall>,
    pub resources: Vec<ResourceSample>,
    pub system: Vec<SystemSample>,
    pub alerts: Vec<Alert>,
    pub alert_events: Vec<AlertEvent>,
    pub silences: Vec<Silence>,
    pub spans: Vec<Span>,
    /// Agents to delete (fallback agents whose executions all moved to another agent).
    pub removed_agents: Vec<String>,
    /// Roll-up steps, replacing what the store holds for the same step.
    pub rollups: Vec<RollupRow>,
    /// Browser sessions started, and ended (by digest).
    pub sessions: Vec<SessionRow>,
    pub ended_sessions: Vec<String>,
    /// Saved views written, and deleted (by name).
    pub views: Vec<SavedView>,
    pub removed_views: Vec<String>,
    /// The fleet's stream position these rows bring the store to (PostgreSQL).
    pub bus: Option<BusPosition>,
}

/// A move of the store's stream position, written with the rows of the messages it covers:
/// it commits only from `expect`, so a second writer's commit fails instead of writing
/// anything twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusPosition {
    pub expect: u64,
    pub to: u64,
}

/// A browser session as the store keeps it: the SHA-256 of its cookie in hex (never the
/// cookie itself), who holds it, and until when (ms).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub digest: String,
    pub principal: crate::model::Principal,
    pub expires_at: i64,
}

/// One step of one roll-up resolution, encoded by the hub.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub step_ms: i64,
    /// Start of the step (ms).
    pub t: i64,
    pub data: String,
}

/// What an agent's charts need of one of its executions.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub status: ExecutionStatus,
    pub created_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: Option<u64>,
    pub tokens: u64,
    pub cost_usd: f64,
}

impl WriteBatch {
    pub fn is_empty(&self) -> bool {
        // Every field named: a new one cannot be forgotten here.
        let WriteBatch {
            agents,
            executions,
            workflows,
            llm,
            plugins,
            logs,
            llm_calls,
            tool_calls,
            resources,
            system,
            alerts,
            alert_events,
            silences,
            spans,
            removed_agents,
            rollups,
            sessions,
            ended_sessions,
            views,
            removed_views,
            bus,
        } = self;
        agents.is_empty()
            && executions.is_empty()
            && workflows.is_empty()
            && llm.is_empty()
            && plugins.is_empty()
            && logs.is_empty()
            && llm_calls.is_empty()
            && tool_calls.is_empty()
            && resources.is_empty()
            && system.is_empty()
            && alerts.is_empty()
            && alert_events.is_empty()
            && silences.is_empty()
            && spans.is_empty()
            && removed_agents.is_empty()
            && rollups.is_empty()
            && sessions.is_empty()
            && ended_sessions.is_empty()
            && views.is_empty()
            && removed_views.is_empty()
            && bus.is_none()
    }
}

/// Roll-up steps of one resolution (`step_ms`) from `from` (ms) on.
#[derive(Debug, Clone, Copy)]
pub struct RollupRange {
    pub step_ms: i64,
    pub from: i64,
}

/// What the hub needs to rebuild its live state, all read at one moment (in one read
/// transaction), so the stream position matches the rows to the batch.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub agents: Vec<Agent>,
    pub workflows: Vec<Workflow>,
    pub llm: Vec<LlmStats>,
    pub plugins: Vec<Plugin>,
    /// Unfinished executions, and finished ones since `since`, newest last.
    pub executions: Vec<Execution>,
    pub system: Option<SystemSample>,
    /// Roll-up steps of the ranges asked for, oldest first within each.
    pub rollups: Vec<RollupRow>,
    /// The fleet's stream position the store had written up to (0 outside a fleet).
    pub bus_position: u64,
    /// Rows that did not decode (written by an older, wrong version): left out, and counted
    /// so start-up can say so instead of refusing to start.
    pub skipped: u64,
}

/// A filter over executions, newest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExecutionQuery {
    pub agent_id: Option<String>,
    #[serde(default)]
    pub workflow_id: Option<String>,
    pub status: Option<ExecutionStatus>,
    /// A query of the search language (`crate::search`), ANDed with the fields above.
    #[serde(default)]
    pub filter: crate::search::Expr,
    /// Only executions after this one in the listing's order (newest first): a cursor that
    /// pages a long listing in constant time, as export does.
    #[serde(default)]
    pub after: Option<Cursor>,
    /// Oldest first (a session's turns in order) instead of newest first.
    #[serde(default)]
    pub oldest_first: bool,
    /// Count matches up to this many (None: all of them).
    #[serde(default)]
    pub count_up_to: Option<u64>,
    pub offset: u64,
    pub limit: u64,
}

/// A place in the executions listing: the last execution seen.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub created_at: i64,
    pub id: String,
}

/// Executions grouped by session or user, with the groups' totals.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupQuery {
    pub by: crate::model::GroupBy,
    /// Which executions count (time range, environment, any query).
    pub filter: crate::search::Expr,
    pub offset: u64,
    pub limit: u64,
}

/// Alerting state to rebuild the alert engine from at start-up.
#[derive(Debug, Default, Clone)]
pub struct AlertSnapshot {
    /// Pending and firing alerts, and alerts resolved since `since`.
    pub alerts: Vec<Alert>,
    /// Silences that have not ended.
    pub silences: Vec<Silence>,
    /// The most recent history, oldest first.
    pub history: Vec<AlertEvent>,
}

pub use crate::model::RetentionReport;

/// A commit under way: resolves once the batch is durable.
pub type Committing = std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<()>> + Send + 'static>>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Queues the batch to be written in one transaction, after every batch queued before
    /// (the order of calls, not of awaits: the ingest pipeline queues its next group while
    /// the previous one commits). The returned future resolves once the batch is durable.
    fn commit(&self, batch: WriteBatch) -> Committing;
    /// Live state to rebuild the hub from, with finished executions since `since` (ms) and
    /// the roll-ups of `rollups`, read in one transaction.
    async fn snapshot(&self, since: i64, rollups: Vec<RollupRange>) -> StoreResult<Snapshot>;
    async fn executions(&self, query: ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)>;
    async fn executions_by_id(&self, ids: Vec<String>) -> StoreResult<Vec<Execution>>;
    /// Sessions or users with the totals of their executions that match, the most recently
    /// active first; and how many groups match in all.
    async fn groups(&self, query: GroupQuery) -> StoreResult<(Vec<RunGroup>, u64)>;
    /// The environments executions name, most used first (at most `limit`).
    async fn environments(&self, limit: u64) -> StoreResult<Vec<String>>;
    /// Saved views (named queries), by name.
    async fn views(&self) -> StoreResult<Vec<SavedView>>;
    /// Log lines of one execution with `seq > after`, oldest first.
    async fn logs(&self, execution_id: &str, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>>;
    /// The last `limit` log lines of one execution, oldest first.
    async fn tail_logs(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<LogRecord>>;
    /// The spans of one execution, by start time.
    async fn spans(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<Span>> {
        let _ = (execution_id, limit);
        Ok(Vec::new())
    }
    async fn alert_snapshot(&self, since: i64, history: u64) -> StoreResult<AlertSnapshot>;
    /// Roll-up steps of one resolution with `from <= t < to`, oldest first.
    async fn rollups(&self, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>>;
    /// Browser sessions that have not expired at `now`.
    async fn sessions(&self, now: i64) -> StoreResult<Vec<SessionRow>>;
    /// An agent as last stored (agents that left the live set are found here).
    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>>;
    /// The most recent `limit` executions of an agent created since `from`, newest first.
    async fn agent_runs(&self, agent_id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>>;
    /// Deletes finished executions, their logs and samples older than `cutoff` (ms); then,
    /// while the live data is larger than `max_bytes`, moves the cutoff past the oldest
    /// finished executions and deletes again; then gives the space back.
    async fn retain(&self, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<RetentionReport>;
    async fn stats(&self) -> StoreResult<StoreStats>;
    /// Writes a value through the write path and reads it back: the readiness probe.
    async fn probe(&self) -> StoreResult<()> {
        self.stats().await.map(drop)
    }
    /// Waits for every pending write and stops the writer.
    async fn close(&self);
}
