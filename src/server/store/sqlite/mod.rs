//! The embedded default: SQLite in WAL mode. One writer thread owns the write connection
//! and merges every commit waiting in its queue into one transaction (group commit); reads
//! run on a small pool of read connections on the blocking thread pool.
//!
//! - `encode.rs`: a batch's JSON, encoded by the caller before it is queued;
//! - `writer.rs`: the writer thread, group commit, and the store's directory of executions;
//! - `checkpoint.rs`: WAL checkpoints on a thread of their own;
//! - `retention.rs`: what retention deletes, by age and by size;
//! - `reads.rs`: the queries, on the read pool.

mod checkpoint;
mod encode;
mod reads;
mod retention;
mod writer;

use super::directory::Directory;
use super::migrations::MIGRATIONS;
use super::retention::RetentionLog;
use super::span_chunks;
use super::{
    AlertSnapshot, Committing, ExecutionQuery, GroupQuery, RetentionReport, RollupRange, RollupRow, RunRow, SessionRow,
    Snapshot, Store, StoreError, StoreResult, WriteBatch,
};
use crate::model::{Agent, Execution, LogRecord, RunGroup, SavedView, Span, StoreStats};
use async_trait::async_trait;
use checkpoint::Checkpointer;
use encode::Encoded;
use parking_lot::Mutex;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use writer::{load_ids, writer_loop, Command};

const READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    /// Unbounded: every caller waits for its command's reply, and the ingest pipeline keeps
    /// at most two commits queued, so the queue is bounded by its callers.
    writer: Mutex<Option<mpsc::UnboundedSender<Command>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    /// Executions' ids → sequence numbers; the writer adds what it commits.
    ids: Arc<Directory>,
    /// Log lines stored: counted once at start, then kept by the writer and retention, so
    /// stats (readiness, `/metrics`) never count the table.
    log_rows: Arc<AtomicU64>,
    next_reader: AtomicUsize,
    retention: RetentionLog,
    probe_lock: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    /// Opens (or creates) `dir/observatory.db` and brings its schema up to date.
    pub fn open(dir: &Path, retention_seconds: u64) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("observatory.db");
        let mut conn = Connection::open(&path)?;
        // auto_vacuum must be chosen before the first table exists; harmless afterwards.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: an acknowledged commit survives power loss too, not only a killed process.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The writer's page cache: 16 MiB (default 2 MiB) keeps the index pages that inserts
        // touch; temporary b-trees stay in memory. 64 MiB ingested no faster (benches/otlp)
        // and held the server's peak RSS at about 200 MiB instead of 140.
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints run on their own thread (see `Checkpointer`): copying the WAL into the
        // database took a third of the writer's time. The writer checkpoints only what that
        // thread left behind, once the WAL reaches 64 MiB, which also lets the WAL start
        // over; its file is cut back to 64 MiB then.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.pragma_update(None, "journal_size_limit", 64 << 20)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        // FTS5 merges a level's segments once 16 of them wait (default 4): each commit adds
        // one, so fewer, larger merges; a query reads a few more segments. Measured with
        // benches/otlp: 21.7 → 18.8 µs of CPU per span ingested. Kept in the table's config.
        conn.execute("INSERT INTO search_text(search_text, rank) VALUES('automerge', 16)", [])?;
        let ids = Arc::new(load_ids(&conn)?);
        let log_rows: i64 = conn.query_row("SELECT COUNT(*) FROM logs", [], |r| r.get(0))?;
        let log_rows = Arc::new(AtomicU64::new(log_rows.max(0) as u64));

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(std::time::Duration::from_secs(5))?;
            readers.push(Mutex::new(r));
        }

        let checkpointer = Checkpointer::start(&path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = std::thread::Builder::new().name("store-writer".into()).spawn({
            let (ids, log_rows) = (ids.clone(), log_rows.clone());
            move || writer_loop(conn, rx, checkpointer, &ids, &log_rows)
        })?;
        Ok(Self {
            path,
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(readers),
            ids,
            log_rows,
            next_reader: AtomicUsize::new(0),
            retention: RetentionLog::new(retention_seconds),
            probe_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn send(&self, command: Command) -> StoreResult<()> {
        let writer = self.writer.lock();
        let tx = writer.as_ref().ok_or(StoreError::Closed)?;
        tx.send(command).map_err(|_| StoreError::Closed)
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            let conn = readers[i].lock();
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::FutureSchema { found: version, known });
    }
    if version == known {
        return Ok(());
    }
    // Migration 8 compresses the span chunks it builds.
    conn.create_scalar_function(
        "span_chunk",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(span_chunks::compress(ctx.get_raw(0).as_bytes()?)),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "store schema migrated");
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn commit(&self, batch: WriteBatch) -> Committing {
        if batch.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        // Encoded by the caller and queued now, so batches are written in call order.
        let queued = Encoded::new(batch).and_then(|encoded| {
            let (tx, rx) = oneshot::channel();
            self.send(Command::Commit(Box::new(encoded), tx))?;
            Ok(rx)
        });
        Box::pin(async move {
            // The batch comes back to be freed here, not on the writer thread.
            let (result, _batch) = queued?.await.map_err(|_| StoreError::Closed)?;
            result
        })
    }

    async fn snapshot(&self, since: i64, rollups: Vec<RollupRange>) -> StoreResult<Snapshot> {
        self.read(move |c| reads::snapshot(c, since, &rollups)).await
    }

    async fn executions(&self, q: ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)> {
        self.read(move |c| reads::executions(c, &q)).await
    }

    async fn groups(&self, q: GroupQuery) -> StoreResult<(Vec<RunGroup>, u64)> {
        self.read(move |c| reads::groups(c, &q)).await
    }

    async fn environments(&self, limit: u64) -> StoreResult<Vec<String>> {
        self.read(move |c| reads::environments(c, limit)).await
    }

    async fn views(&self) -> StoreResult<Vec<SavedView>> {
        self.read(reads::views).await
    }

    async fn executions_by_id(&self, ids: Vec<String>) -> StoreResult<Vec<Execution>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // Ids the store has never held (new executions, as a rule) need no read at all.
        let stored: Vec<(String, i64)> = ids
            .into_iter()
            .filter_map(|id| self.ids.get(&id).map(|seq| (id, seq)))
            .collect();
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |c| reads::executions_by_id(c, &stored)).await
    }

    async fn logs(&self, execution_id: &str, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| reads::logs(c, &id, seq, after, limit)).await
    }

    async fn tail_logs(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<LogRecord>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| reads::tail_logs(c, &id, seq, limit)).await
    }

    async fn spans(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<Span>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| reads::spans(c, &id, seq, limit)).await
    }

    async fn alert_snapshot(&self, since: i64, history: u64) -> StoreResult<AlertSnapshot> {
        self.read(move |c| reads::alert_snapshot(c, since, history)).await
    }

    async fn rollups(&self, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
        self.read(move |c| reads::rollups(c, step_ms, from, to)).await
    }

    async fn sessions(&self, now: i64) -> StoreResult<Vec<SessionRow>> {
        self.read(move |c| reads::sessions(c, now)).await
    }

    async fn agent(&self, id: &str) -> StoreResult<Option<Agent>> {
        let id = id.to_string();
        self.read(move |c| reads::agent(c, &id)).await
    }

    async fn agent_runs(&self, agent_id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
        let id = agent_id.to_string();
        self.read(move |c| reads::agent_runs(c, &id, from, limit)).await
    }

    async fn retain(&self, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<RetentionReport> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Retain(cutoff, max_bytes, tx))?;
        let report = rx.await.map_err(|_| StoreError::Closed)??;
        let _ = self.log_rows.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            Some(n.saturating_sub(report.logs))
        });
        self.retention.record(&report);
        Ok(report)
    }

    async fn probe(&self) -> StoreResult<()> {
        // One probe at a time, so the value read back is the one written.
        let _one = self.probe_lock.lock().await;
        let value = format!("{}-{}", crate::server::clock::now_ms(), rand::random::<u32>());
        let (tx, rx) = oneshot::channel();
        self.send(Command::Probe(value.clone(), tx))?;
        rx.await.map_err(|_| StoreError::Closed)??;
        let read: String = self
            .read(|c| Ok(c.query_row("SELECT value FROM meta WHERE key = 'probe'", [], |r| r.get(0))?))
            .await?;
        if read != value {
            return Err(StoreError::Io(std::io::Error::other(format!(
                "probe wrote `{value}` and read back `{read}`"
            ))));
        }
        Ok(())
    }

    async fn stats(&self) -> StoreResult<StoreStats> {
        // Counters and file sizes only: no query, whatever the size of the store.
        let mut size = 0;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            size += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        }
        Ok(self.retention.stats(
            "sqlite",
            size,
            self.ids.len() as u64,
            self.log_rows.load(Ordering::Relaxed),
        ))
    }

    async fn close(&self) {
        // Dropping the sender ends the writer loop once every queued commit is written.
        self.writer.lock().take();
        let handle = self.writer_thread.lock().take();
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

#[cfg(test)]
mod tests;
