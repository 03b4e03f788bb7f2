//! The PostgreSQL store (`--store postgres://USER@HOST:PORT/DB`), for a fleet of instances
//! or a team that already runs PostgreSQL. The same [`Store`] contract as the embedded
//! SQLite store, checked by the same tests (`store::contract`).
//!
//! - `schema.rs`: versioned migrations under an advisory lock; daily partitions;
//! - `write.rs`: one writer task, group commit, multi-row statements;
//! - `reads.rs`: the queries, on a pool (deadpool-postgres);
//! - `retention.rs`: partitions dropped whole, the rest deleted a chunk at a time;
//! - `leader.rs`: the fleet's leader, by an advisory lock;
//! - `text.rs`: NUL characters, which PostgreSQL refuses in text;
//! - `tls.rs`: `sslmode` and `sslrootcert`, as libpq reads them;
//! - `scratch.rs`: a schema of its own for a test or a benchmark.

mod index;
mod leader;
mod reads;
mod retention;
pub mod schema;
pub mod scratch;
mod text;
mod tls;
mod write;

pub use leader::Leadership;
pub use tls::Target;

use super::retention::RetentionLog;
use super::{
    AlertSnapshot, Committing, ExecutionQuery, GroupQuery, RetentionReport, RollupRange, RollupRow, RunRow, SessionRow,
    Snapshot, Store, StoreError, StoreResult, WriteBatch,
};
use crate::model::{Agent, Execution, LogRecord, RunGroup, SavedView, Span, StoreStats};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use write::{writer_loop, Encoded, Reply};

/// Connections of the pool: the writer's, and the reads'.
const POOL_SIZE: usize = 8;
/// Shards of the row counters: each store adds to one, picked at random when it opens.
const COUNTER_SHARDS: i32 = 64;

/// The writer task's queue of commits.
type Queue = mpsc::UnboundedSender<(Box<Encoded>, Reply)>;

pub struct PgStore {
    pool: Pool,
    /// For connections of their own (the leader's lock).
    target: Target,
    writer: Mutex<Option<Queue>>,
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    shard: i32,
    retention: RetentionLog,
}

impl StoreError {
    pub(super) fn pool(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Io(std::io::Error::other(format!("postgres pool: {other}"))),
        }
    }
}

/// A PostgreSQL URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            match user.split_once(':') {
                Some((name, _)) => format!("{}{name}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and brings the schema up to date.
    pub async fn open(url: &str, retention_seconds: u64) -> StoreResult<Self> {
        let target = Target::parse(url)
            .map_err(|e| StoreError::Io(std::io::Error::other(format!("`{}`: {e}", redacted(url)))))?;
        Self::connect(target, retention_seconds, schema::MIGRATIONS.len()).await
    }

    /// Connects with `config`, migrating the schema up to `upto` migrations (all but in
    /// tests of an older schema).
    pub async fn connect(target: impl Into<Target>, retention_seconds: u64, upto: usize) -> StoreResult<Self> {
        let target = target.into();
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::Io(std::io::Error::other(format!("postgres pool: {e}"))))?;
        {
            let mut client = pool.get().await.map_err(StoreError::pool)?;
            schema::migrate(&mut client, upto).await?;
        }
        let shard = rand::random_range(0..COUNTER_SHARDS);
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(writer_loop(pool.clone(), rx, shard));
        Ok(Self {
            pool,
            target,
            writer: Mutex::new(Some(tx)),
            writer_task: Mutex::new(Some(task)),
            shard,
            retention: RetentionLog::new(retention_seconds),
        })
    }

    /// The fleet's stream position the store has written up to (0: none yet).
    pub async fn bus_position(&self) -> StoreResult<u64> {
        write::position(&**self.client().await?).await
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(StoreError::pool)
    }
}

#[async_trait]
impl Store for PgStore {
    fn commit(&self, batch: WriteBatch) -> Committing {
        if batch.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        // Encoded by the caller and queued now, so batches are written in call order.
        let queued = Encoded::new(batch).and_then(|encoded| {
            let (tx, rx) = oneshot::channel();
            let writer = self.writer.lock();
            let sender = writer.as_ref().ok_or(StoreError::Closed)?;
            sender.send((Box::new(encoded), tx)).map_err(|_| StoreError::Closed)?;
            Ok(rx)
        });
        Box::pin(async move { queued?.await.map_err(|_| StoreError::Closed)? })
    }

    async fn snapshot(&self, since: i64, rollups: Vec<RollupRange>) -> StoreResult<Snapshot> {
        reads::snapshot(&**self.client().await?, since, &rollups).await
    }

    async fn executions(&self, q: ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)> {
        reads::executions(&**self.client().await?, &q).await
    }

    async fn groups(&self, q: GroupQuery) -> StoreResult<(Vec<RunGroup>, u64)> {
        reads::groups(&**self.client().await?, &q).await
    }

    async fn environments(&self, limit: u64) -> StoreResult<Vec<String>> {
        reads::environments(&**self.client().await?, limit).await
    }

    async fn views(&self) -> StoreResult<Vec<SavedView>> {
        reads::views(&**self.client().await?).await
    }

    async fn executions_by_id(&self, ids: Vec<String>) -> StoreResult<Vec<Execution>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        reads::executions_by_id(&**self.client().await?, &ids).await
    }

    async fn logs(&self, execution_id: &str, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>> {
        reads::logs(&**self.client().await?, execution_id, after, limit).await
    }

    async fn tail_logs(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<LogRecord>> {
        reads::tail_logs(&**self.client().await?, execution_id, limit).await
    }

    async fn spans(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<Span>> {
        reads::spans(&**self.client().await?, execution_id, limit).await
    }

    async fn alert_snapshot(&self, since: i64, history: u64) -> StoreResult<AlertSnapshot> {
        reads::alert_snapshot(&**self.client().await?, since, history).await
    }

    async fn rollups(&self, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
        reads::rollups(&**self.client().await?, step_ms, from, to).await
    }

    async fn sessions(&self, now: i64) -> StoreResult<Vec<SessionRow>> {
        reads::sessions(&**self.client().await?, now).await
    }

    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>> {
        reads::agent(&**self.client().await?, id).await
    }

    async fn agent_runs(&self, agent_id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
        reads::agent_runs(&**self.client().await?, agent_id, from, limit).await
    }

    async fn retain(&self, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<RetentionReport> {
        if self.writer.lock().is_none() {
            return Err(StoreError::Closed);
        }
        let report = retention::run(&self.pool, cutoff, max_bytes, self.shard).await?;
        self.retention.record(&report);
        Ok(report)
    }

    async fn probe(&self) -> StoreResult<()> {
        if self.writer.lock().is_none() {
            return Err(StoreError::Closed);
        }
        let value = format!("{}-{}", crate::server::clock::now_ms(), rand::random::<u32>());
        let client = self.client().await?;
        // One statement: the value read back is the one this probe wrote.
        let read: String = client
            .query_one(
                "INSERT INTO meta (key, value) VALUES ('probe', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING value",
                &[&value],
            )
            .await?
            .get(0);
        if read != value {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "probe wrote `{value}` and read back `{read}`"
            ))));
        }
        Ok(())
    }

    async fn stats(&self) -> StoreResult<StoreStats> {
        let client = self.client().await?;
        let counts = client
            .query("SELECT name, SUM(n)::bigint FROM counters GROUP BY name", &[])
            .await?;
        let count = |name: &str| {
            counts
                .iter()
                .find(|r| r.get::<_, &str>(0) == name)
                .map(|r| r.get::<_, i64>(1).max(0) as u64)
                .unwrap_or(0)
        };
        Ok(self.retention.stats(
            "postgres",
            retention::size(&client).await?,
            count("executions"),
            count("logs"),
        ))
    }

    async fn close(&self) {
        // Dropping the sender ends the writer once every queued commit is written.
        self.writer.lock().take();
        let task = self.writer_task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
        self.pool.close();
    }
}

#[cfg(test)]
mod tests;
