//! The embedded default: SQLite in WAL mode. One writer thread owns the write connection
//! and merges every commit waiting in its queue into one transaction (group commit); reads
//! run on a small pool of read connections on the blocking thread pool.

use super::directory::Directory;
use super::in_place::InPlace;
use super::migrations::MIGRATIONS;
use super::span_chunks;
use super::{
    AlertSnapshot, Committing, ExecutionQuery, RetentionReport, RollupRow, RunRow, Snapshot, Store, StoreError,
    StoreResult, WriteBatch,
};
use crate::model::{Execution, LogRecord, Span, StoreStats};
use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::functions::FunctionFlags;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

const READERS: usize = 4;
/// Most commits merged into one transaction.
const GROUP_MAX: usize = 256;

enum Command {
    Commit(Box<Encoded>, oneshot::Sender<(StoreResult<()>, Box<Encoded>)>),
    Retain(i64, Option<u64>, oneshot::Sender<StoreResult<RetentionReport>>),
    Probe(String, oneshot::Sender<StoreResult<()>>),
}

/// A batch with the JSON columns of its rows already encoded. The caller of
/// [`Store::commit`] encodes and the writer thread only binds and steps; the writer hands
/// the batch back, so the caller also frees it.
struct Encoded {
    batch: WriteBatch,
    agents: Vec<String>,
    workflows: Vec<String>,
    llm: Vec<String>,
    plugins: Vec<String>,
    executions: Vec<String>,
    /// Per log record: its attributes, None when there are none.
    log_attributes: Vec<Option<String>>,
    llm_calls: Vec<String>,
    tool_calls: Vec<String>,
    system: Vec<String>,
    alerts: Vec<String>,
    alert_events: Vec<String>,
    silences: Vec<String>,
    /// The batch's spans, a chunk per run of one execution's spans: (its id, the chunk).
    span_chunks: Vec<(String, Vec<u8>)>,
}

fn json_all<T: serde::Serialize>(items: &[T]) -> StoreResult<Vec<String>> {
    items.iter().map(|i| Ok(serde_json::to_string(i)?)).collect()
}

/// `value` as JSON, or None when there is nothing to store.
fn json_unless<T: serde::Serialize + ?Sized>(nothing: bool, value: &T) -> StoreResult<Option<String>> {
    Ok(if nothing {
        None
    } else {
        Some(serde_json::to_string(value)?)
    })
}

impl Encoded {
    fn new(batch: WriteBatch) -> StoreResult<Self> {
        let b = &batch;
        let log_attributes = b
            .logs
            .iter()
            .map(|l| json_unless(l.attributes.is_empty(), &l.attributes))
            .collect::<StoreResult<_>>()?;
        let span_chunks = b
            .spans
            .chunk_by(|a, b| a.execution_id == b.execution_id)
            .map(|run| Ok((run[0].execution_id.clone(), span_chunks::encode(run)?)))
            .collect::<StoreResult<_>>()?;
        Ok(Self {
            agents: json_all(&b.agents)?,
            workflows: json_all(&b.workflows)?,
            llm: json_all(&b.llm)?,
            plugins: json_all(&b.plugins)?,
            executions: json_all(&b.executions)?,
            log_attributes,
            llm_calls: json_all(&b.llm_calls)?,
            tool_calls: json_all(&b.tool_calls)?,
            system: json_all(&b.system)?,
            alerts: json_all(&b.alerts)?,
            alert_events: json_all(&b.alert_events)?,
            silences: json_all(&b.silences)?,
            span_chunks,
            batch,
        })
    }
}

pub struct SqliteStore {
    path: PathBuf,
    /// Unbounded: every caller waits for its command's reply, and the ingest pipeline keeps
    /// at most two commits queued, so the queue is bounded by its callers.
    writer: Mutex<Option<mpsc::UnboundedSender<Command>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    /// Executions' ids → sequence numbers; the writer adds what it commits.
    ids: Arc<Directory>,
    next_reader: AtomicUsize,
    last_retention: AtomicI64,
    last_report: Mutex<Option<RetentionReport>>,
    probe_lock: tokio::sync::Mutex<()>,
    retention_seconds: u64,
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
        // The writer's page cache: 64 MiB (default 2 MiB) keeps the index pages that inserts
        // touch; temporary b-trees stay in memory.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoints run on their own thread (see `Checkpointer`): copying the WAL into the
        // database took a third of the writer's time. The writer checkpoints only what that
        // thread left behind, once the WAL reaches 64 MiB, which also lets the WAL start
        // over; its file is cut back to 64 MiB then.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.pragma_update(None, "journal_size_limit", 64 << 20)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        let ids = Arc::new(load_ids(&conn)?);

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
            let ids = ids.clone();
            move || writer_loop(conn, rx, checkpointer, &ids)
        })?;
        Ok(Self {
            path,
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Arc::new(readers),
            ids,
            next_reader: AtomicUsize::new(0),
            last_retention: AtomicI64::new(0),
            last_report: Mutex::new(None),
            probe_lock: tokio::sync::Mutex::new(()),
            retention_seconds,
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

/// Copies committed WAL frames into the database on its own thread and connection, so the
/// writer goes on writing meanwhile. Woken after commits; checkpoints at most every 200 ms
/// (a page changed by several commits in between is copied once). `PASSIVE` never waits
/// for the writer or readers; what it cannot copy yet, the next round does.
struct Checkpointer {
    wake: std::sync::mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
    /// Held for each round. SQLite runs one checkpoint at a time and answers any other busy at
    /// once, without waiting: the writer's own checkpoints take this first (see `paused`).
    round: Arc<Mutex<()>>,
}

impl Checkpointer {
    const INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

    fn start(path: &Path) -> StoreResult<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (wake, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let round = Arc::new(Mutex::new(()));
        let held = round.clone();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    let checkpointed = {
                        let _round = held.lock();
                        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    };
                    if let Err(e) = checkpointed {
                        tracing::warn!(error = %e, "background checkpoint failed");
                    }
                    std::thread::sleep(Self::INTERVAL);
                }
            })?;
        Ok(Self { wake, thread, round })
    }

    /// Runs `f` with no background round under way, so that a checkpoint `f` runs itself
    /// (retention's `TRUNCATE`) does all its work instead of answering busy.
    fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let _round = self.round.lock();
        f()
    }

    /// Asks for a checkpoint soon (coalesced with one already asked for).
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// Lets the last round finish and stops the thread.
    fn stop(self) {
        drop(self.wake);
        let _ = self.thread.join();
    }
}

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Command>,
    checkpointer: Checkpointer,
    ids: &Directory,
) {
    while let Some(first) = rx.blocking_recv() {
        match first {
            Command::Commit(batch, reply) => {
                let mut batches = vec![batch];
                let mut replies = vec![reply];
                let mut deferred = None;
                while batches.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(Command::Commit(b, r)) => {
                            batches.push(b);
                            replies.push(r);
                        }
                        Ok(other) => {
                            deferred = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let result = write(&mut conn, &batches, ids);
                match &result {
                    Ok(()) => checkpointer.wake(),
                    Err(e) => tracing::error!(error = %e, batches = batches.len(), "store commit failed"),
                }
                for (r, b) in replies.into_iter().zip(batches) {
                    let result = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
                    };
                    let _ = r.send((result, b));
                }
                if let Some(other) = deferred {
                    other_command(&mut conn, other, &checkpointer, ids);
                }
            }
            other => other_command(&mut conn, other, &checkpointer, ids),
        }
    }
    // Channel closed: checkpoint so the next start opens a compact database.
    checkpointer.stop();
    if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
        tracing::warn!(error = %e, "wal checkpoint at shutdown failed");
    }
}

/// Executions' sequence numbers, which key their spans and log lines: from the transaction's
/// own inserts (the hub sends a record's execution in the same batch), else the directory.
struct Seqs<'a, 'd> {
    ids: &'d Directory,
    /// Inserted by this transaction: in the directory once it commits.
    inserted: HashMap<&'a str, i64>,
    /// The last answer: records of one execution arrive together.
    last: Option<(&'a str, i64)>,
}

impl<'a, 'd> Seqs<'a, 'd> {
    fn new(ids: &'d Directory) -> Self {
        Self {
            ids,
            inserted: HashMap::new(),
            last: None,
        }
    }

    /// The sequence number of a stored execution, None when the store holds no such id.
    fn find(&mut self, id: &'a str) -> Option<i64> {
        if let Some((last, seq)) = self.last {
            if last == id {
                return Some(seq);
            }
        }
        let seq = self.inserted.get(id).copied().or_else(|| self.ids.get(id));
        if let Some(seq) = seq {
            self.last = Some((id, seq));
        }
        seq
    }

    fn inserted(&mut self, id: &'a str, seq: i64) {
        self.inserted.insert(id, seq);
        self.last = Some((id, seq));
    }

    /// The sequence number of the execution a record belongs to, which must be stored.
    fn of(&mut self, id: &'a str) -> StoreResult<i64> {
        self.find(id).ok_or_else(|| StoreError::NoExecution(id.to_string()))
    }
}

/// Every stored execution's id and sequence number, read along the narrow `executions_ids`
/// (ids borrowed from SQLite's row, not copied).
fn load_ids(conn: &Connection) -> StoreResult<Directory> {
    let mut ids = Directory::default();
    let mut stmt = conn.prepare("SELECT id, seq FROM executions INDEXED BY executions_ids")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        ids.add(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?, r.get(1)?);
    }
    Ok(ids)
}

fn write(conn: &mut Connection, batches: &[Box<Encoded>], ids: &Directory) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let mut seqs = Seqs::new(ids);
    {
        let mut upsert_agent = tx.prepare_cached("INSERT INTO agents (id, updated_at, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data")?;
        let mut delete_agent = tx.prepare_cached("DELETE FROM agents WHERE id = ?1")?;
        let mut upsert_workflow = tx.prepare_cached("INSERT INTO workflows (id, updated_at, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data")?;
        let mut upsert_llm = tx.prepare_cached("INSERT INTO llm_models (id, updated_at, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data")?;
        let mut upsert_plugin = tx.prepare_cached("INSERT INTO plugins (id, updated_at, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, data = excluded.data")?;
        // An update by sequence number or an insert, not one upsert `RETURNING seq`: SQLite
        // runs RETURNING as a trigger, and a statement with a trigger first copies every page
        // it touches into a statement journal (dropping it took the OTLP bench from about
        // 71,000 to 84,000 spans/s).
        let mut insert_exec = tx.prepare_cached(
            "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut update_exec = tx.prepare_cached(
            "UPDATE executions SET agent_id = ?2, status = ?3, updated_at = ?4, data = ?5 WHERE seq = ?1",
        )?;
        let mut insert_log = InPlace::prepare(
            &tx,
            "INSERT OR IGNORE INTO logs (exec_seq, seq, ts, level, message, attributes, trace_id, span_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut insert_llm = tx.prepare_cached("INSERT INTO llm_calls (ts, execution_id, data) VALUES (?1, ?2, ?3)")?;
        let mut insert_tool =
            tx.prepare_cached("INSERT INTO tool_calls (ts, execution_id, data) VALUES (?1, ?2, ?3)")?;
        let mut insert_resource = tx.prepare_cached("INSERT INTO resource_samples (ts, execution_id, agent_id, cpu_percent, memory_bytes) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut insert_system = tx.prepare_cached("INSERT INTO system_samples (ts, host, data) VALUES (?1, ?2, ?3)")?;
        let mut upsert_alert = tx.prepare_cached(
            "INSERT INTO alerts (id, fingerprint, state, updated_at, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, data = excluded.data",
        )?;
        let mut insert_alert_event =
            tx.prepare_cached("INSERT INTO alert_events (alert_id, at, data) VALUES (?1, ?2, ?3)")?;
        let mut upsert_silence = tx.prepare_cached(
            "INSERT INTO silences (id, ends_at, data) VALUES (?1, ?2, ?3) ON CONFLICT(id) DO UPDATE SET ends_at = excluded.ends_at, data = excluded.data",
        )?;

        let mut upsert_rollup = tx.prepare_cached(
            "INSERT INTO rollups (step_ms, t, data) VALUES (?1, ?2, ?3) ON CONFLICT(step_ms, t) DO UPDATE SET data = excluded.data",
        )?;

        let mut insert_spans = tx.prepare_cached("INSERT INTO span_chunks (exec_seq, spans) VALUES (?1, ?2)")?;

        for e in batches {
            let b = &e.batch;
            for (x, json) in b.executions.iter().zip(&e.executions) {
                if let Some(seq) = seqs.find(&x.id) {
                    update_exec.execute(params![seq, x.agent_id, x.status.as_str(), x.updated_at, json])?;
                } else {
                    insert_exec.execute(params![
                        x.id,
                        x.agent_id,
                        x.status.as_str(),
                        x.created_at,
                        x.updated_at,
                        json
                    ])?;
                    seqs.inserted(&x.id, tx.last_insert_rowid());
                }
            }
            for r in &b.rollups {
                upsert_rollup.execute(params![r.step_ms, r.t, r.data])?;
            }
            for (id, chunk) in &e.span_chunks {
                insert_spans.execute(params![seqs.of(id)?, chunk])?;
            }
            for (a, json) in b.agents.iter().zip(&e.agents) {
                upsert_agent.execute(params![a.id, a.last_seen, json])?;
            }
            for id in &b.removed_agents {
                delete_agent.execute(params![id])?;
            }
            for (w, json) in b.workflows.iter().zip(&e.workflows) {
                upsert_workflow.execute(params![w.id, w.last_run.unwrap_or(0), json])?;
            }
            for (l, json) in b.llm.iter().zip(&e.llm) {
                upsert_llm.execute(params![l.id, l.last_request, json])?;
            }
            for (p, json) in b.plugins.iter().zip(&e.plugins) {
                upsert_plugin.execute(params![p.id, p.last_call.unwrap_or(0), json])?;
            }
            for (l, attrs) in b.logs.iter().zip(&e.log_attributes) {
                insert_log.execute(&[
                    seqs.of(&l.execution_id)?.into(),
                    (l.seq as i64).into(),
                    l.timestamp.into(),
                    l.level.as_str().into(),
                    (&l.message).into(),
                    attrs.as_ref().into(),
                    l.trace_id.as_ref().into(),
                    l.span_id.as_ref().into(),
                ])?;
            }
            for (c, json) in b.llm_calls.iter().zip(&e.llm_calls) {
                insert_llm.execute(params![c.timestamp, c.execution_id, json])?;
            }
            for (c, json) in b.tool_calls.iter().zip(&e.tool_calls) {
                insert_tool.execute(params![c.timestamp, c.execution_id, json])?;
            }
            for r in &b.resources {
                insert_resource.execute(params![
                    r.timestamp,
                    r.execution_id,
                    r.agent_id,
                    r.cpu_percent,
                    r.memory_bytes as i64
                ])?;
            }
            for (s, json) in b.system.iter().zip(&e.system) {
                insert_system.execute(params![s.timestamp, s.host, json])?;
            }
            for (a, json) in b.alerts.iter().zip(&e.alerts) {
                upsert_alert.execute(params![a.id, a.fingerprint, a.state.as_str(), a.updated_at, json])?;
            }
            for (x, json) in b.alert_events.iter().zip(&e.alert_events) {
                insert_alert_event.execute(params![x.alert_id, x.at, json])?;
            }
            for (s, json) in b.silences.iter().zip(&e.silences) {
                upsert_silence.execute(params![s.id, s.ends_at, json])?;
            }
        }
    }
    tx.commit()?;
    ids.insert(seqs.inserted);
    Ok(())
}

/// Everything but commits, which the writer loop groups.
fn other_command(conn: &mut Connection, command: Command, checkpointer: &Checkpointer, ids: &Directory) {
    match command {
        Command::Retain(cutoff, max_bytes, reply) => {
            let _ = reply.send(checkpointer.paused(|| retain(conn, cutoff, max_bytes, ids)));
        }
        Command::Probe(value, reply) => {
            let written = conn
                .execute(
                    "INSERT INTO meta (key, value) VALUES ('probe', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![value],
                )
                .map(drop)
                .map_err(Into::into);
            let _ = reply.send(written);
        }
        Command::Commit(..) => unreachable!("commits are grouped by the writer loop"),
    }
}

/// The database file's bytes, and those of them in use (less the free list).
fn file_and_used_bytes(conn: &Connection) -> StoreResult<(u64, u64)> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages * size) as u64, ((pages - free).max(0) * size) as u64))
}

/// Finished executions dropped per round when the store is over its size limit.
const SIZE_ROUND: i64 = 500;

fn retain(conn: &mut Connection, cutoff: i64, max_bytes: Option<u64>, ids: &Directory) -> StoreResult<RetentionReport> {
    let (before, _) = file_and_used_bytes(conn)?;
    let mut report = delete_before(conn, cutoff, ids)?;
    if let Some(max) = max_bytes {
        // Each round moves the cutoff past the next SIZE_ROUND oldest finished executions
        // (or past all of them, when fewer are left).
        for _ in 0..1000 {
            if file_and_used_bytes(conn)?.1 <= max {
                break;
            }
            let next: Option<i64> = conn.query_row(
                "SELECT MAX(updated_at) FROM (SELECT updated_at FROM executions \
                 WHERE status IN ('COMPLETED','FAILED','CANCELLED') ORDER BY updated_at LIMIT ?1)",
                params![SIZE_ROUND],
                |r| r.get(0),
            )?;
            let Some(next) = next else { break };
            let round = delete_before(conn, next + 1, ids)?;
            report.executions += round.executions;
            report.logs += round.logs;
            report.samples += round.samples;
            report.by_size = true;
        }
    }
    // Each step of the pragma frees one page: step it to the end.
    {
        let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut freed = vacuum.query([])?;
        while freed.next()?.is_some() {}
    }
    // In WAL mode the file shrinks when the log is checkpointed; do it now, and empty the log.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    report.reclaimed_bytes = before.saturating_sub(file_and_used_bytes(conn)?.0);
    Ok(report)
}

fn delete_before(conn: &mut Connection, cutoff: i64, ids: &Directory) -> StoreResult<RetentionReport> {
    let tx = conn.transaction()?;
    // Finished executions last updated before the cutoff.
    let finished = "updated_at < ?1 AND status IN ('COMPLETED','FAILED','CANCELLED')";
    let old = format!("SELECT seq FROM executions WHERE {finished}");
    let gone: Vec<String> = tx
        .prepare(&format!("SELECT id FROM executions WHERE {finished}"))?
        .query_map(params![cutoff], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let logs = tx.execute(&format!("DELETE FROM logs WHERE exec_seq IN ({old})"), params![cutoff])? as u64;
    let mut samples = tx.execute("DELETE FROM resource_samples WHERE ts < ?1", params![cutoff])? as u64;
    samples += tx.execute(
        &format!("DELETE FROM span_chunks WHERE exec_seq IN ({old})"),
        params![cutoff],
    )? as u64;
    samples += tx.execute("DELETE FROM llm_calls WHERE ts < ?1", params![cutoff])? as u64;
    samples += tx.execute("DELETE FROM tool_calls WHERE ts < ?1", params![cutoff])? as u64;
    samples += tx.execute("DELETE FROM system_samples WHERE ts < ?1", params![cutoff])? as u64;
    samples += tx.execute(
        "DELETE FROM alerts WHERE updated_at < ?1 AND state IN ('resolved','inactive')",
        params![cutoff],
    )? as u64;
    samples += tx.execute("DELETE FROM alert_events WHERE at < ?1", params![cutoff])? as u64;
    samples += tx.execute("DELETE FROM silences WHERE ends_at < ?1", params![cutoff])? as u64;
    samples += tx.execute("DELETE FROM rollups WHERE t < ?1", params![cutoff])? as u64;
    // The finest steps only serve ranges up to an hour; two hours of them are plenty.
    samples += tx.execute(
        "DELETE FROM rollups WHERE step_ms = ?1 AND t < (SELECT MAX(t) FROM rollups WHERE step_ms = ?1) - ?2",
        params![FINEST_STEP_MS, FINEST_KEPT_MS],
    )? as u64;
    let executions = tx.execute(&format!("DELETE FROM executions WHERE {finished}"), params![cutoff])? as u64;
    tx.commit()?;
    ids.remove(gone.iter().map(String::as_str));
    Ok(RetentionReport {
        executions,
        logs,
        samples,
        ..Default::default()
    })
}

const FINEST_STEP_MS: i64 = 10_000;
const FINEST_KEPT_MS: i64 = 2 * 3_600_000;

fn decode<T: serde::de::DeserializeOwned>(data: String) -> StoreResult<T> {
    Ok(serde_json::from_str(&data)?)
}

fn all_json<T: serde::de::DeserializeOwned>(conn: &Connection, sql: &str) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.map(|r| decode(r?)).collect()
}

fn row_to_log(r: &rusqlite::Row<'_>) -> rusqlite::Result<(LogRecord, Option<String>)> {
    let level: String = r.get(3)?;
    Ok((
        LogRecord {
            execution_id: r.get(0)?,
            seq: r.get::<_, i64>(1)? as u64,
            timestamp: r.get(2)?,
            level: level.parse().unwrap_or_default(),
            message: r.get(4)?,
            attributes: Default::default(),
            trace_id: r.get(6)?,
            span_id: r.get(7)?,
        },
        r.get(5)?,
    ))
}

fn collect_logs(
    rows: impl Iterator<Item = rusqlite::Result<(LogRecord, Option<String>)>>,
) -> StoreResult<Vec<LogRecord>> {
    rows.map(|row| {
        let (mut rec, attrs) = row?;
        if let Some(a) = attrs {
            rec.attributes = serde_json::from_str(&a)?;
        }
        Ok(rec)
    })
    .collect()
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

    async fn snapshot(&self, since: i64) -> StoreResult<Snapshot> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT data FROM executions WHERE status IN ('PENDING','RUNNING') OR updated_at >= ?1 ORDER BY created_at",
            )?;
            let executions = stmt
                .query_map(params![since], |r| r.get::<_, String>(0))?
                .map(|r| decode(r?))
                .collect::<StoreResult<Vec<Execution>>>()?;
            let system = c
                .query_row("SELECT data FROM system_samples ORDER BY ts DESC LIMIT 1", [], |r| r.get::<_, String>(0))
                .optional()?
                .map(decode)
                .transpose()?;
            Ok(Snapshot {
                agents: all_json(c, "SELECT data FROM agents")?,
                workflows: all_json(c, "SELECT data FROM workflows")?,
                llm: all_json(c, "SELECT data FROM llm_models")?,
                plugins: all_json(c, "SELECT data FROM plugins")?,
                executions,
                system,
            })
        })
        .await
    }

    async fn executions(&self, q: ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)> {
        self.read(move |c| {
            let mut filter = String::from(" WHERE 1=1");
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            if let Some(agent) = &q.agent_id {
                args.push(Box::new(agent.clone()));
                filter.push_str(&format!(" AND agent_id = ?{}", args.len()));
            }
            if let Some(workflow) = &q.workflow_id {
                args.push(Box::new(workflow.clone()));
                filter.push_str(&format!(" AND json_extract(data, '$.workflow_id') = ?{}", args.len()));
            }
            if let Some(status) = q.status {
                args.push(Box::new(status.as_str()));
                filter.push_str(&format!(" AND status = ?{}", args.len()));
            }
            let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM executions{filter}"),
                refs.as_slice(),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT data FROM executions{filter} ORDER BY created_at DESC, id LIMIT {} OFFSET {}",
                q.limit, q.offset
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let items = stmt
                .query_map(refs.as_slice(), |r| r.get::<_, String>(0))?
                .map(|r| decode(r?))
                .collect::<StoreResult<Vec<Execution>>>()?;
            Ok((items, total as u64))
        })
        .await
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
        self.read(move |c| {
            // One read transaction for every lookup: each transaction of its own would start
            // over with an empty page cache (the writer commits all the while).
            let tx = c.unchecked_transaction()?;
            let mut out = Vec::new();
            {
                let mut stmt = tx.prepare_cached("SELECT data FROM executions WHERE seq = ?1 AND id = ?2")?;
                for (id, seq) in &stored {
                    if let Some(data) = stmt.query_row(params![seq, id], |r| r.get::<_, String>(0)).optional()? {
                        out.push(decode(data)?);
                    }
                }
            }
            tx.finish()?;
            Ok(out)
        })
        .await
    }

    async fn logs(&self, execution_id: &str, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT ?1, seq, ts, level, message, attributes, trace_id, span_id FROM logs
                 WHERE exec_seq = (SELECT seq FROM executions WHERE seq = ?4 AND id = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![id, after as i64, limit as i64, seq], row_to_log)?;
            collect_logs(rows)
        })
        .await
    }

    async fn tail_logs(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<LogRecord>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM (SELECT ?1, seq, ts, level, message, attributes, trace_id, span_id FROM logs
                 WHERE exec_seq = (SELECT seq FROM executions WHERE seq = ?3 AND id = ?1) ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![id, limit as i64, seq], row_to_log)?;
            collect_logs(rows)
        })
        .await
    }

    async fn spans(&self, execution_id: &str, limit: u64) -> StoreResult<Vec<Span>> {
        let Some(seq) = self.ids.get(execution_id) else {
            return Ok(Vec::new());
        };
        let id = execution_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT spans FROM span_chunks
                 WHERE exec_seq = (SELECT seq FROM executions WHERE seq = ?2 AND id = ?1) ORDER BY rowid",
            )?;
            let mut rows = stmt.query(params![id, seq])?;
            let mut chunks = Vec::new();
            while let Some(r) = rows.next()? {
                chunks.push(span_chunks::decode(r.get_ref(0)?)?);
            }
            Ok(span_chunks::by_start(chunks, limit as usize))
        })
        .await
    }

    async fn alert_snapshot(&self, since: i64, history: u64) -> StoreResult<AlertSnapshot> {
        self.read(move |c| {
            let mut stmt = c.prepare("SELECT data FROM alerts WHERE state IN ('pending','firing') OR (state = 'resolved' AND updated_at >= ?1) ORDER BY updated_at")?;
            let alerts = stmt.query_map(params![since], |r| r.get::<_, String>(0))?.map(|r| decode(r?)).collect::<StoreResult<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT data FROM silences WHERE ends_at >= ?1")?;
            let silences = stmt.query_map(params![since], |r| r.get::<_, String>(0))?.map(|r| decode(r?)).collect::<StoreResult<Vec<_>>>()?;
            let mut stmt = c.prepare("SELECT data FROM (SELECT id, data FROM alert_events ORDER BY id DESC LIMIT ?1) ORDER BY id")?;
            let history = stmt.query_map(params![history as i64], |r| r.get::<_, String>(0))?.map(|r| decode(r?)).collect::<StoreResult<Vec<_>>>()?;
            Ok(AlertSnapshot { alerts, silences, history })
        })
        .await
    }

    async fn rollups(&self, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT t, data FROM rollups WHERE step_ms = ?1 AND t >= ?2 AND t < ?3 ORDER BY t")?;
            let rows = stmt.query_map(params![step_ms, from, to], |r| {
                Ok(RollupRow {
                    step_ms,
                    t: r.get(0)?,
                    data: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn agent_runs(&self, agent_id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
        let id = agent_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT status, created_at, json_extract(data, '$.ended_at'), json_extract(data, '$.duration_ms'),
                        json_extract(data, '$.tokens_in') + json_extract(data, '$.tokens_out'), json_extract(data, '$.cost_usd')
                 FROM executions WHERE agent_id = ?1 AND created_at >= ?2 ORDER BY created_at DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![id, from, limit as i64], |r| {
                Ok(RunRow {
                    status: r.get::<_, String>(0)?.parse().unwrap_or_default(),
                    created_at: r.get(1)?,
                    ended_at: r.get(2)?,
                    duration_ms: r.get::<_, Option<i64>>(3)?.map(|d| d.max(0) as u64),
                    tokens: r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64,
                    cost_usd: r.get::<_, Option<f64>>(5)?.unwrap_or(0.0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn retain(&self, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<RetentionReport> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Retain(cutoff, max_bytes, tx))?;
        let report = rx.await.map_err(|_| StoreError::Closed)??;
        self.last_retention.store(crate::server::clock::now_ms(), Ordering::Relaxed);
        *self.last_report.lock() = Some(report.clone());
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
        let path = self.path.clone();
        let last = self.last_retention.load(Ordering::Relaxed);
        let retention_seconds = self.retention_seconds;
        let last_retention = self.last_report.lock().clone();
        let executions = self.ids.len() as i64;
        self.read(move |c| {
            let log_records: i64 = c.query_row("SELECT COUNT(*) FROM logs", [], |r| r.get(0))?;
            let mut size = 0;
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                size += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            }
            Ok(StoreStats {
                backend: "sqlite".into(),
                size_bytes: size,
                executions: executions as u64,
                log_records: log_records as u64,
                last_retention_run: (last > 0).then_some(last),
                retention_seconds,
                retention_max_bytes: 0,
                last_retention,
            })
        })
        .await
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
mod tests {
    use super::*;
    use crate::model::{ExecutionStatus, LogLevel};

    fn exec(id: &str, status: ExecutionStatus, at: i64) -> Execution {
        Execution {
            id: id.into(),
            agent_id: "a".into(),
            status,
            created_at: at,
            updated_at: at,
            ..Default::default()
        }
    }

    fn log(id: &str, seq: u64) -> LogRecord {
        LogRecord {
            execution_id: id.into(),
            seq,
            timestamp: 1_000 + seq as i64,
            level: LogLevel::Info,
            message: format!("line {seq}"),
            attributes: Default::default(),
            trace_id: None,
            span_id: None,
        }
    }

    #[tokio::test]
    async fn commits_are_readable_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SqliteStore::open(dir.path(), 60).unwrap();
            let batch = WriteBatch {
                executions: vec![exec("e1", ExecutionStatus::Running, 10)],
                logs: (1..=5).map(|s| log("e1", s)).collect(),
                ..Default::default()
            };
            store.commit(batch).await.unwrap();
            store.close().await;
        }
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let snap = store.snapshot(0).await.unwrap();
        assert_eq!(snap.executions.len(), 1);
        let logs = store.logs("e1", 2, 10).await.unwrap();
        assert_eq!(logs.iter().map(|l| l.seq).collect::<Vec<_>>(), [3, 4, 5]);
        let tail = store.tail_logs("e1", 2).await.unwrap();
        assert_eq!(tail.iter().map(|l| l.seq).collect::<Vec<_>>(), [4, 5]);
        store.close().await;
    }

    #[tokio::test]
    async fn filters_and_pages_executions() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let executions = (0..10)
            .map(|i| {
                exec(
                    &format!("e{i}"),
                    if i % 2 == 0 {
                        ExecutionStatus::Failed
                    } else {
                        ExecutionStatus::Completed
                    },
                    i,
                )
            })
            .collect();
        store
            .commit(WriteBatch {
                executions,
                ..Default::default()
            })
            .await
            .unwrap();
        let (page, total) = store
            .executions(ExecutionQuery {
                status: Some(ExecutionStatus::Failed),
                offset: 1,
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 5);
        assert_eq!(page.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e6", "e4"]);
        store.close().await;
    }

    #[tokio::test]
    async fn retention_drops_old_finished_executions_and_their_logs() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let batch = WriteBatch {
            executions: vec![
                exec("old", ExecutionStatus::Completed, 10),
                exec("live", ExecutionStatus::Running, 10),
                exec("new", ExecutionStatus::Failed, 500),
            ],
            logs: vec![log("old", 1), log("live", 1), log("new", 1)],
            ..Default::default()
        };
        store.commit(batch).await.unwrap();
        let report = store.retain(100, None).await.unwrap();
        assert_eq!(report.executions, 1);
        assert_eq!(report.logs, 1);
        let (left, _) = store
            .executions(ExecutionQuery {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut ids: Vec<_> = left.iter().map(|e| e.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["live", "new"]);
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.executions, stats.log_records), (2, 2));
        // Gone from the directory of ids as well: written again, it is a new execution.
        assert!(store.executions_by_id(vec!["old".into()]).await.unwrap().is_empty());
        start(&store, "old", 600).await;
        assert_eq!(store.logs("old", 0, 10).await.unwrap(), vec![log("old", 1)]);
        assert_eq!(store.stats().await.unwrap().executions, 3);
        store.close().await;
    }

    #[tokio::test]
    async fn retention_by_size_drops_the_oldest_finished_first_and_gives_space_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        // 2,000 finished executions with 2 KiB of logs each (about 4 MiB), and one running.
        for chunk in 0..4 {
            let ids: Vec<String> = (0..500).map(|i| format!("e{:05}", chunk * 500 + i)).collect();
            let mut logs = Vec::new();
            for id in &ids {
                let mut l = log(id, 1);
                l.message = "x".repeat(2048);
                logs.push(l);
            }
            let mut executions: Vec<_> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| exec(id, ExecutionStatus::Completed, 1_000 + (chunk * 500 + i) as i64))
                .collect();
            executions.push(exec(&format!("running{chunk}"), ExecutionStatus::Running, 0));
            store
                .commit(WriteBatch {
                    executions,
                    logs,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let before = store.stats().await.unwrap().size_bytes;
        // Nothing is old enough by age; the size limit alone deletes.
        let max = 4 * 1024 * 1024;
        let report = store.retain(0, Some(max)).await.unwrap();
        assert!(report.by_size, "{report:?}");
        assert!(report.executions >= 500 && report.executions < 2000, "{report:?}");
        assert_eq!(report.logs, report.executions);
        assert!(report.reclaimed_bytes > 0, "{report:?}");
        let (left, total) = store
            .executions(ExecutionQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(total, 2004 - report.executions);
        // The newest finished and every running execution stay.
        assert!(left.iter().any(|e| e.id == "e01999"));
        assert_eq!(left.iter().filter(|e| e.status == ExecutionStatus::Running).count(), 4);
        assert!(!left.iter().any(|e| e.id == "e00000"));
        let stats = store.stats().await.unwrap();
        assert!(stats.size_bytes < before, "{} < {before}", stats.size_bytes);
        assert_eq!(stats.last_retention, Some(report));
        store.close().await;
    }

    #[tokio::test]
    async fn the_probe_writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        store.probe().await.unwrap();
        store.probe().await.unwrap();
        store.close().await;
        assert!(store.probe().await.is_err(), "a closed store fails its probe");
    }

    #[tokio::test]
    async fn spans_round_trip_in_start_order_and_go_with_retention() {
        use crate::model::{SpanCategory, SpanEventRecord, SpanStatus};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let span = |id: &str, start: u64| {
            let mut s = Span {
                trace_id: "old".into(),
                span_id: id.into(),
                execution_id: "old".into(),
                name: format!("chat {id}"),
                category: SpanCategory::Llm,
                span_kind: "client".into(),
                start_unix_nano: start,
                end_unix_nano: start + 1_500,
                status: SpanStatus::Error,
                model: Some("m".into()),
                tokens_in: Some(5),
                ..Default::default()
            };
            s.attributes
                .insert("gen_ai.request.model".into(), serde_json::json!("m"));
            s.events.push(SpanEventRecord {
                name: "gen_ai.choice".into(),
                time_unix_nano: start + 1,
                attributes: Default::default(),
            });
            s.set_ms();
            s
        };
        let batch = WriteBatch {
            executions: vec![exec("old", ExecutionStatus::Completed, 10)],
            spans: vec![span("b", 2_000), span("a", 1_000)],
            ..Default::default()
        };
        store.commit(batch).await.unwrap();
        let got = store.spans("old", 100).await.unwrap();
        assert_eq!(got.iter().map(|s| s.span_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(got[0], span("a", 1_000));
        // Sent again (an exporter's retry): one row, the latest.
        let mut again = span("a", 1_000);
        again.name = "chat again".into();
        store
            .commit(WriteBatch {
                spans: vec![again],
                ..Default::default()
            })
            .await
            .unwrap();
        let got = store.spans("old", 100).await.unwrap();
        assert_eq!(
            got.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["chat again", "chat b"]
        );
        store.retain(100, None).await.unwrap();
        assert!(store.spans("old", 100).await.unwrap().is_empty());
        store.close().await;
    }

    /// Commits a running execution with its first log line.
    async fn start(store: &SqliteStore, id: &str, at: i64) {
        let batch = WriteBatch {
            executions: vec![exec(id, ExecutionStatus::Running, at)],
            logs: vec![log(id, 1)],
            ..Default::default()
        };
        store.commit(batch).await.unwrap();
    }

    /// A database in `dir` at schema `version`, as an older build left it.
    fn database_at(dir: &Path, version: usize) -> Connection {
        let c = Connection::open(dir.join("observatory.db")).unwrap();
        for sql in &MIGRATIONS[..version] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", version as i64).unwrap();
        c
    }

    #[tokio::test]
    async fn schema_5_keeps_one_row_per_span_of_an_execution() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A store at schema 4 holding one span twice, under two trace ids.
            let c = database_at(dir.path(), 4);
            c.execute(
                "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES ('e', 'a', 'COMPLETED', 1, 1, ?1)",
                params![serde_json::to_string(&exec("e", ExecutionStatus::Completed, 1)).unwrap()],
            )
            .unwrap();
            for (trace, name) in [("t1", "first"), ("t2", "second")] {
                c.execute(
                    "INSERT INTO spans (trace_id, span_id, execution_id, name, category, span_kind, start_ns, end_ns, status)
                     VALUES (?1, 's', 'e', ?2, 'other', 'internal', 1, 2, 'unset')",
                    params![trace, name],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let got = store.spans("e", 10).await.unwrap();
        assert_eq!(got.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["second"]);
        store.close().await;
    }

    #[tokio::test]
    async fn schema_8_turns_span_rows_into_one_chunk_per_execution_keeping_every_field() {
        use crate::model::{SpanCategory, SpanEventRecord, SpanStatus};
        let dir = tempfile::tempdir().unwrap();
        let mut chat = Span {
            trace_id: "t".repeat(32),
            span_id: "c".repeat(16),
            parent_span_id: Some("r".repeat(16)),
            execution_id: "t".repeat(32),
            name: "chat gpt-4o".into(),
            category: SpanCategory::Llm,
            span_kind: "client".into(),
            operation: Some("chat".into()),
            service: Some("svc".into()),
            start_unix_nano: 1_700_000_000_123_456_789,
            end_unix_nano: 1_700_000_001_000_000_000,
            status: SpanStatus::Error,
            status_message: Some("rate limited".into()),
            agent_name: Some("researcher".into()),
            provider: Some("openai".into()),
            model: Some("gpt-4o".into()),
            tokens_in: Some(1200),
            tokens_out: Some(150),
            cost_usd: Some(0.0125),
            ttft_ms: Some(310.5),
            tool_name: None,
            ..Default::default()
        };
        chat.attributes
            .insert("gen_ai.request.max_tokens".into(), serde_json::json!(1024));
        chat.events.push(SpanEventRecord {
            name: "exception".into(),
            time_unix_nano: 1_700_000_000_900_000_000,
            attributes: [("exception.type".to_string(), serde_json::json!("RateLimitError"))].into(),
        });
        chat.set_ms();
        let mut root = Span {
            trace_id: "t".repeat(32),
            span_id: "r".repeat(16),
            execution_id: "t".repeat(32),
            name: "invoke_agent researcher".into(),
            category: SpanCategory::Agent,
            span_kind: "internal".into(),
            start_unix_nano: 1_700_000_000_000_000_000,
            end_unix_nano: 1_700_000_002_000_000_000,
            ..Default::default()
        };
        root.set_ms();
        {
            // A store at schema 7 with the two spans as rows.
            let c = database_at(dir.path(), 7);
            let data = serde_json::to_string(&exec(&chat.execution_id, ExecutionStatus::Completed, 1)).unwrap();
            c.execute(
                "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES (?1, 'a', 'COMPLETED', 1, 1, ?2)",
                params![chat.execution_id, data],
            )
            .unwrap();
            let mut insert = c
                .prepare(
                    "INSERT INTO spans (trace_id, span_id, exec_seq, parent_span_id, name, category, span_kind, operation, service,
                     start_ns, end_ns, status, status_message, agent_name, provider, model, tokens_in, tokens_out, cost_usd, ttft_ms,
                     tool_name, attributes, events) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21, ?22)",
                )
                .unwrap();
            for s in [&chat, &root] {
                let attributes = (!s.attributes.is_empty()).then(|| serde_json::to_string(&s.attributes).unwrap());
                let events = (!s.events.is_empty()).then(|| serde_json::to_string(&s.events).unwrap());
                insert
                    .execute(params![
                        s.trace_id,
                        s.span_id,
                        s.parent_span_id,
                        s.name,
                        s.category.as_str(),
                        s.span_kind,
                        s.operation,
                        s.service,
                        s.start_unix_nano as i64,
                        s.end_unix_nano as i64,
                        s.status.as_str(),
                        s.status_message,
                        s.agent_name,
                        s.provider,
                        s.model,
                        s.tokens_in.map(|v| v as i64),
                        s.tokens_out.map(|v| v as i64),
                        s.cost_usd,
                        s.ttft_ms,
                        s.tool_name,
                        attributes,
                        events,
                    ])
                    .unwrap();
            }
        }
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        assert_eq!(store.spans(&chat.execution_id, 10).await.unwrap(), [root, chat]);
        store.close().await;
        let c = Connection::open(dir.path().join("observatory.db")).unwrap();
        let (chunks, kind): (i64, String) = c
            .query_row("SELECT COUNT(*), MAX(typeof(spans)) FROM span_chunks", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((chunks, kind.as_str()), (1, "blob"));
    }

    #[tokio::test]
    async fn schema_6_keys_spans_and_logs_by_the_executions_sequence() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A store at schema 5: two executions, each with a span and a log line.
            let c = database_at(dir.path(), 5);
            for (id, at) in [("late", 20), ("early", 10)] {
                let data = serde_json::to_string(&exec(id, ExecutionStatus::Completed, at)).unwrap();
                c.execute(
                    "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES (?1, 'a', 'COMPLETED', ?2, ?2, ?3)",
                    params![id, at, data],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO spans (trace_id, span_id, execution_id, name, category, span_kind, start_ns, end_ns, status)
                     VALUES (?1, 's', ?1, ?2, 'other', 'internal', 1, 2, 'unset')",
                    params![id, format!("span of {id}")],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO logs (execution_id, seq, ts, level, message) VALUES (?1, 1, ?2, 'info', ?3)",
                    params![id, at, format!("log of {id}")],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        for id in ["early", "late"] {
            let spans = store.spans(id, 10).await.unwrap();
            assert_eq!(
                spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
                [format!("span of {id}")]
            );
            assert_eq!(spans[0].execution_id, id);
            let logs = store.logs(id, 0, 10).await.unwrap();
            assert_eq!(
                logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
                [format!("log of {id}")]
            );
            assert_eq!(logs[0].execution_id, id);
        }
        // New executions number on after the migrated ones, numbered in creation order.
        start(&store, "new", 30).await;
        assert_eq!(store.tail_logs("new", 10).await.unwrap(), vec![log("new", 1)]);
        store.close().await;
        let c = Connection::open(dir.path().join("observatory.db")).unwrap();
        let strings = |sql: &str| -> Vec<String> {
            let mut stmt = c.prepare(sql).unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<Result<_, _>>().unwrap()
        };
        assert_eq!(
            strings("SELECT id FROM executions ORDER BY seq"),
            ["early", "late", "new"]
        );
        // Schema 7: no index on ids; `executions_ids` by sequence number instead.
        assert_eq!(
            strings("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'executions' ORDER BY name"),
            [
                "executions_agent",
                "executions_created",
                "executions_ids",
                "executions_status",
                "executions_updated"
            ]
        );
    }

    #[test]
    fn an_execution_written_again_keeps_its_sequence_and_takes_the_new_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("observatory.db")).unwrap();
        migrate(&mut conn).unwrap();
        let batch = |status, logs: std::ops::RangeInclusive<u64>| {
            Box::new(
                Encoded::new(WriteBatch {
                    executions: vec![exec("e1", status, 10), exec("e2", ExecutionStatus::Running, 11)],
                    logs: logs.map(|s| log("e1", s)).collect(),
                    ..Default::default()
                })
                .unwrap(),
            )
        };
        let ids = Directory::default();
        write(&mut conn, &[batch(ExecutionStatus::Running, 1..=2)], &ids).unwrap();
        // Two batches of one group, each with e1: written once each, in order.
        write(
            &mut conn,
            &[
                batch(ExecutionStatus::Running, 3..=3),
                batch(ExecutionStatus::Completed, 4..=5),
            ],
            &ids,
        )
        .unwrap();
        let rows: Vec<(i64, String, String)> = conn
            .prepare("SELECT seq, id, status FROM executions ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![(1, "e1".into(), "COMPLETED".into()), (2, "e2".into(), "RUNNING".into())]
        );
        let logs: Vec<(i64, i64)> = conn
            .prepare("SELECT exec_seq, seq FROM logs ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(logs, (1..=5).map(|s| (1, s)).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn records_of_an_execution_the_store_does_not_hold_fail_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let orphan = WriteBatch {
            logs: vec![log("nowhere", 1)],
            ..Default::default()
        };
        let e = store.commit(orphan).await.unwrap_err();
        assert!(e.to_string().contains("no execution `nowhere` is stored"), "{e}");
        // Nothing of the failed transaction stays; the next commit goes through.
        start(&store, "e1", 10).await;
        assert!(store.logs("nowhere", 0, 10).await.unwrap().is_empty());
        assert_eq!(store.logs("e1", 0, 10).await.unwrap(), vec![log("e1", 1)]);
        store.close().await;
    }

    #[tokio::test]
    async fn commits_reach_the_database_file_without_waiting_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let db = dir.path().join("observatory.db");
        let before = std::fs::metadata(&db).unwrap().len();
        store
            .commit(WriteBatch {
                executions: vec![exec("e1", ExecutionStatus::Running, 10)],
                logs: (1..=2_000).map(|s| log("e1", s)).collect(),
                ..Default::default()
            })
            .await
            .unwrap();
        // The WAL is far below the writer's own checkpoint threshold: only the background
        // checkpointer copies these pages into the database file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&db).unwrap().len() <= before {
            assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store.close().await;
    }
}
