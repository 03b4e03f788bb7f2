//! The writer thread: it owns the write connection, merges the commits waiting in its queue
//! into one transaction (group commit), and runs retention and probes between groups.

use super::super::directory::Directory;
use super::super::in_place::InPlace;
use super::super::search::{Columns, Doc};
use super::super::{RetentionReport, StoreError, StoreResult};
use super::checkpoint::Checkpointer;
use super::encode::Encoded;
use super::retention::Retention;
use rusqlite::{params, Connection};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Most commits merged into one transaction.
const GROUP_MAX: usize = 256;

pub(super) enum Command {
    Commit(Box<Encoded>, oneshot::Sender<(StoreResult<()>, Box<Encoded>)>),
    Retain(i64, Option<u64>, oneshot::Sender<StoreResult<RetentionReport>>),
    Probe(String, oneshot::Sender<StoreResult<()>>),
}

type RetainReply = oneshot::Sender<StoreResult<RetentionReport>>;

pub(super) fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::UnboundedReceiver<Command>,
    checkpointer: Checkpointer,
    ids: &Directory,
    log_rows: &AtomicU64,
) {
    // A retention run under way, deleting a chunk at a time between groups of commits, and
    // runs asked for meanwhile.
    let mut running: Option<(Retention, RetainReply)> = None;
    let mut asked: VecDeque<(i64, Option<u64>, RetainReply)> = VecDeque::new();
    loop {
        let first = if running.is_some() {
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.blocking_recv() {
                Some(c) => Some(c),
                None => break,
            }
        };
        let other = match first {
            // Nothing waiting: the next chunk of retention.
            None => {
                if let Some((mut run, reply)) = running.take() {
                    match checkpointer.paused(|| run.step(&mut conn, ids)) {
                        Ok(false) => running = Some((run, reply)),
                        Ok(true) => {
                            let _ = reply.send(Ok(run.report));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                None
            }
            Some(Command::Commit(batch, reply)) => {
                commit_group(&mut conn, &mut rx, (batch, reply), &checkpointer, ids, log_rows)
            }
            Some(other) => Some(other),
        };
        match other {
            Some(Command::Retain(cutoff, max_bytes, reply)) => asked.push_back((cutoff, max_bytes, reply)),
            Some(Command::Probe(value, reply)) => {
                let _ = reply.send(probe(&conn, &value));
            }
            Some(Command::Commit(..)) => unreachable!("commits are grouped by commit_group"),
            None => {}
        }
        if running.is_none() {
            if let Some((cutoff, max_bytes, reply)) = asked.pop_front() {
                match Retention::start(&conn, cutoff, max_bytes) {
                    Ok(run) => running = Some((run, reply)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
        }
    }
    // Channel closed: checkpoint so the next start opens a compact database.
    checkpointer.stop();
    if let Err(e) = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
        tracing::warn!(error = %e, "wal checkpoint at shutdown failed");
    }
}

type CommitReply = oneshot::Sender<(StoreResult<()>, Box<Encoded>)>;

/// Writes `first` and the commits waiting behind it in one transaction (group commit);
/// returns the command that ended the group, if any.
fn commit_group(
    conn: &mut Connection,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    first: (Box<Encoded>, CommitReply),
    checkpointer: &Checkpointer,
    ids: &Directory,
    log_rows: &AtomicU64,
) -> Option<Command> {
    let mut batches = vec![first.0];
    let mut replies = vec![first.1];
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
    // One transaction for the group; if it fails, one per commit, so one bad commit does
    // not fail those merged with it.
    let results = match write(conn, &batches, ids) {
        Ok(logs) => {
            log_rows.fetch_add(logs, Ordering::Relaxed);
            batches.iter().map(|_| Ok(())).collect()
        }
        Err(e) if batches.len() == 1 => vec![Err(e)],
        Err(_) => batches
            .iter()
            .map(|b| {
                let logs = write(conn, std::slice::from_ref(b), ids)?;
                log_rows.fetch_add(logs, Ordering::Relaxed);
                Ok(())
            })
            .collect::<Vec<StoreResult<()>>>(),
    };
    if results.iter().any(Result::is_ok) {
        checkpointer.wake();
    }
    for ((r, b), result) in replies.into_iter().zip(batches).zip(results) {
        if let Err(e) = &result {
            tracing::error!(error = %e, "store commit failed");
        }
        let _ = r.send((result, b));
    }
    deferred
}

/// The readiness probe's write.
fn probe(conn: &Connection, value: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('probe', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![value],
    )?;
    Ok(())
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
pub(super) fn load_ids(conn: &Connection) -> StoreResult<Directory> {
    let mut ids = Directory::default();
    let mut stmt = conn.prepare("SELECT id, seq FROM executions INDEXED BY executions_ids")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        ids.add(r.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?, r.get(1)?);
    }
    Ok(ids)
}

/// Writes a group of batches in one transaction; returns how many log lines it added.
pub(super) fn write(conn: &mut Connection, batches: &[Box<Encoded>], ids: &Directory) -> StoreResult<u64> {
    let tx = conn.transaction()?;
    let mut seqs = Seqs::new(ids);
    let mut logs = 0;
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
            "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data, session_id, user_id, env, cost, tokens, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        // The insert's parameters, but the first is the sequence number (and the creation
        // time, ?4, stays as it was).
        let mut update_exec = tx.prepare_cached(
            "UPDATE executions SET agent_id = ?2, status = ?3, updated_at = ?5, data = ?6, session_id = ?7, user_id = ?8, \
             env = ?9, cost = ?10, tokens = ?11, duration_ms = ?12 WHERE seq = ?1",
        )?;
        let mut index = SearchWriter::prepare(&tx)?;
        let mut insert_log = InPlace::prepare(
            &tx,
            "INSERT INTO logs (exec_seq, seq, ts, level, message, attributes, trace_id, span_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                let c = Columns::from(x);
                let status = x.status.as_str();
                let fields: [&dyn rusqlite::ToSql; 11] = [
                    &x.agent_id,
                    &status,
                    &x.created_at,
                    &x.updated_at,
                    json,
                    &c.session_id,
                    &c.user_id,
                    &c.env,
                    &c.cost,
                    &c.tokens,
                    &c.duration_ms,
                ];
                if let Some(seq) = seqs.find(&x.id) {
                    update_exec.execute(rusqlite::params_from_iter(
                        std::iter::once(&seq as &dyn rusqlite::ToSql).chain(fields),
                    ))?;
                } else {
                    insert_exec.execute(rusqlite::params_from_iter(
                        std::iter::once(&x.id as &dyn rusqlite::ToSql).chain(fields),
                    ))?;
                    seqs.inserted(&x.id, tx.last_insert_rowid());
                }
            }
            for (doc, terms) in e.search.iter().zip(&e.spans.terms) {
                // Every record's execution is in the batch or stored; a doc of none has
                // nothing to find it by.
                if let Some(seq) = seqs.find(&doc.execution_id) {
                    index.add(seq, doc, terms)?;
                }
            }
            for r in &b.rollups {
                upsert_rollup.execute(params![r.step_ms, r.t, r.data])?;
            }
            for (id, chunk) in &e.spans.spans {
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
                logs += insert_log.execute(&[
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
            for (s, json) in b.sessions.iter().zip(&e.sessions) {
                tx.prepare_cached(
                    "INSERT INTO sessions (digest, expires_at, data) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(digest) DO UPDATE SET expires_at = excluded.expires_at, data = excluded.data",
                )?
                .execute(params![s.digest, s.expires_at, json])?;
            }
            for (v, json) in b.views.iter().zip(&e.views) {
                tx.prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![format!("view:{}", v.name), json])?;
            }
            for name in &b.removed_views {
                tx.prepare_cached("DELETE FROM meta WHERE key = ?1")?
                    .execute(params![format!("view:{name}")])?;
            }
            for digest in &b.ended_sessions {
                tx.prepare_cached("DELETE FROM sessions WHERE digest = ?1")?
                    .execute(params![digest])?;
            }
        }
    }
    tx.commit()?;
    ids.insert(seqs.inserted);
    Ok(logs)
}

/// The search index's statements in one write transaction.
struct SearchWriter<'t> {
    doc: rusqlite::CachedStatement<'t>,
    text: rusqlite::CachedStatement<'t>,
}

impl<'t> SearchWriter<'t> {
    fn prepare(tx: &'t rusqlite::Transaction<'_>) -> StoreResult<Self> {
        Ok(Self {
            doc: tx.prepare_cached("INSERT INTO search_docs (exec_seq) VALUES (?1)")?,
            text: tx.prepare_cached("INSERT INTO search_text (rowid, body, error, terms) VALUES (?1, ?2, ?3, ?4)")?,
        })
    }

    fn add(&mut self, seq: i64, doc: &Doc, terms: &str) -> StoreResult<()> {
        let id = self.doc.insert(params![seq])?;
        self.text.execute(params![id, doc.body, doc.error, terms])?;
        Ok(())
    }
}
