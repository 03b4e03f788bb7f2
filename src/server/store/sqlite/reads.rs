//! The reads: plain functions over a read connection, which `SqliteStore` runs on its pool.

use super::super::search::{self, Backend, Param};
use super::super::span_chunks;
use super::super::{
    AlertSnapshot, ExecutionQuery, GroupQuery, RollupRange, RollupRow, RunRow, SessionRow, Snapshot, StoreResult,
};
use crate::model::{Agent, Execution, LogRecord, RunGroup, SavedView, Span};
use rusqlite::{params, Connection, OptionalExtension};

fn decode<T: serde::de::DeserializeOwned>(data: String) -> StoreResult<T> {
    Ok(serde_json::from_str(&data)?)
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

/// The JSON column of each row `sql` selects, decoded; a row that does not decode is left
/// out, logged with its table and counted in `skipped` (one bad row must not keep the server
/// from starting).
fn decodable<T: serde::de::DeserializeOwned>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    table: &str,
    skipped: &mut u64,
) -> StoreResult<Vec<T>> {
    let mut stmt = c.prepare(sql)?;
    let mut out = Vec::new();
    for row in stmt.query_map(args, |r| r.get::<_, String>(0))? {
        match serde_json::from_str(&row?) {
            Ok(item) => out.push(item),
            Err(e) => {
                *skipped += 1;
                tracing::error!(table, error = %e, "a stored row does not decode: left out of the start-up state");
            }
        }
    }
    Ok(out)
}

/// In one read transaction: WAL gives it a snapshot of the database as of its first read.
pub(super) fn snapshot(c: &Connection, since: i64, ranges: &[RollupRange]) -> StoreResult<Snapshot> {
    let tx = c.unchecked_transaction()?;
    let mut skipped = 0;
    let executions = decodable(
        c,
        "SELECT data FROM executions WHERE status IN ('PENDING','RUNNING') OR updated_at >= ?1 ORDER BY created_at",
        params![since],
        "executions",
        &mut skipped,
    )?;
    let system = decodable(
        c,
        "SELECT data FROM system_samples ORDER BY ts DESC LIMIT 1",
        [],
        "system_samples",
        &mut skipped,
    )?
    .pop();
    let mut rollups = Vec::new();
    for r in ranges {
        rollups.extend(self::rollups(c, r.step_ms, r.from, i64::MAX)?);
    }
    let snapshot = Snapshot {
        agents: decodable(c, "SELECT data FROM agents", [], "agents", &mut skipped)?,
        workflows: decodable(c, "SELECT data FROM workflows", [], "workflows", &mut skipped)?,
        llm: decodable(c, "SELECT data FROM llm_models", [], "llm_models", &mut skipped)?,
        plugins: decodable(c, "SELECT data FROM plugins", [], "plugins", &mut skipped)?,
        executions,
        system,
        rollups,
        bus_position: 0,
        skipped,
    };
    tx.finish()?;
    Ok(snapshot)
}

pub(super) fn sessions(c: &Connection, now: i64) -> StoreResult<Vec<SessionRow>> {
    let mut stmt = c.prepare("SELECT digest, expires_at, data FROM sessions WHERE expires_at > ?1")?;
    let rows = stmt.query_map(params![now], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (digest, expires_at, data) = row?;
        match serde_json::from_str(&data) {
            Ok(principal) => out.push(SessionRow {
                digest,
                principal,
                expires_at,
            }),
            Err(e) => tracing::error!(error = %e, "a stored session does not decode; it is left out"),
        }
    }
    Ok(out)
}

pub(super) fn agent(c: &Connection, id: &str) -> StoreResult<Option<Agent>> {
    let mut skipped = 0;
    Ok(decodable(
        c,
        "SELECT data FROM agents WHERE id = ?1",
        params![id],
        "agents",
        &mut skipped,
    )?
    .pop())
}

fn boxed(p: Param) -> Box<dyn rusqlite::ToSql> {
    match p {
        Param::Text(t) => Box::new(t),
        Param::Int(i) => Box::new(i),
        Param::Real(r) => Box::new(r),
    }
}

/// The `WHERE` of an executions listing and its parameters.
fn listing_filter(q: &ExecutionQuery) -> (String, Vec<Box<dyn rusqlite::ToSql>>) {
    let mut filter = String::from(" WHERE 1=1");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    if let Some(agent) = &q.agent_id {
        args.push(Box::new(agent.clone()));
        filter.push_str(&format!(" AND x.agent_id = ?{}", args.len()));
    }
    if let Some(workflow) = &q.workflow_id {
        args.push(Box::new(workflow.clone()));
        filter.push_str(&format!(" AND json_extract(x.data, '$.workflow_id') = ?{}", args.len()));
    }
    if let Some(status) = q.status {
        args.push(Box::new(status.as_str()));
        filter.push_str(&format!(" AND x.status = ?{}", args.len()));
    }
    if !q.filter.is_all() {
        let now = crate::server::clock::now_ms();
        let cond = search::condition(&q.filter, Backend::Sqlite, args.len() + 1, now);
        filter.push_str(&format!(" AND ({})", cond.sql));
        args.extend(cond.params.into_iter().map(boxed));
    }
    (filter, args)
}

/// The statement counting a listing's matches, up to `up_to`.
fn count(filter: &str, up_to: Option<u64>) -> String {
    match up_to {
        Some(n) => format!("SELECT COUNT(*) FROM (SELECT 1 FROM executions x{filter} LIMIT {n})"),
        None => format!("SELECT COUNT(*) FROM executions x{filter}"),
    }
}

pub(super) fn executions(c: &Connection, q: &ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)> {
    let (filter, mut args) = listing_filter(q);
    let total: i64 = {
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
        c.query_row(&count(&filter, q.count_up_to), refs.as_slice(), |r| r.get(0))?
    };
    let mut page = filter;
    if let Some(cursor) = &q.after {
        let cond = search::after(cursor, Backend::Sqlite, args.len() + 1);
        page.push_str(&format!(" AND ({})", cond.sql));
        args.extend(cond.params.into_iter().map(boxed));
    }
    let order = if q.oldest_first {
        "x.created_at, x.id"
    } else {
        "x.created_at DESC, x.id"
    };
    let sql = format!(
        "SELECT x.data FROM executions x{page} ORDER BY {order} LIMIT {} OFFSET {}",
        q.limit, q.offset
    );
    let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let mut stmt = c.prepare_cached(&sql)?;
    let items = stmt
        .query_map(refs.as_slice(), |r| r.get::<_, String>(0))?
        .map(|r| decode(r?))
        .collect::<StoreResult<Vec<Execution>>>()?;
    Ok((items, total as u64))
}

pub(super) fn groups(c: &Connection, q: &GroupQuery) -> StoreResult<(Vec<RunGroup>, u64)> {
    let cond = search::condition(&q.filter, Backend::Sqlite, 1, crate::server::clock::now_ms());
    let (page, count) = search::groups(q.by, &cond, Backend::Sqlite);
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = cond.params.into_iter().map(boxed).collect();
    let total: i64 = {
        let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
        c.query_row(&count, refs.as_slice(), |r| r.get(0))?
    };
    args.push(Box::new(q.limit as i64));
    args.push(Box::new(q.offset as i64));
    let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let mut stmt = c.prepare_cached(&page)?;
    let rows = stmt.query_map(refs.as_slice(), |r| {
        let n = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.unwrap_or(0).max(0) as u64);
        Ok(RunGroup {
            id: r.get(0)?,
            executions: n(1)?,
            failed: n(2)?,
            running: n(3)?,
            cost_usd: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
            tokens: n(5)?,
            duration_ms: n(6)?,
            first_at: r.get(7)?,
            last_at: r.get(8)?,
            agents: search::agents(r.get::<_, Option<String>>(9)?),
        })
    })?;
    Ok((rows.collect::<rusqlite::Result<_>>()?, total.max(0) as u64))
}

pub(super) fn environments(c: &Connection, limit: u64) -> StoreResult<Vec<String>> {
    let mut stmt = c.prepare_cached(
        "SELECT env FROM executions INDEXED BY executions_env WHERE env IS NOT NULL GROUP BY env ORDER BY COUNT(*) DESC, env LIMIT ?1",
    )?;
    let rows = stmt.query_map(params![limit as i64], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn views(c: &Connection) -> StoreResult<Vec<SavedView>> {
    let mut skipped = 0;
    decodable(
        c,
        "SELECT value FROM meta WHERE key >= 'view:' AND key < 'view;' ORDER BY key",
        [],
        "meta",
        &mut skipped,
    )
}

pub(super) fn executions_by_id(c: &Connection, stored: &[(String, i64)]) -> StoreResult<Vec<Execution>> {
    // One read transaction for every lookup: each transaction of its own would start
    // over with an empty page cache (the writer commits all the while).
    let tx = c.unchecked_transaction()?;
    let mut out = Vec::new();
    {
        let mut stmt = tx.prepare_cached("SELECT data FROM executions WHERE seq = ?1 AND id = ?2")?;
        for (id, seq) in stored {
            if let Some(data) = stmt.query_row(params![seq, id], |r| r.get::<_, String>(0)).optional()? {
                out.push(decode(data)?);
            }
        }
    }
    tx.finish()?;
    Ok(out)
}

pub(super) fn logs(c: &Connection, id: &str, seq: i64, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT ?1, seq, ts, level, message, attributes, trace_id, span_id FROM logs
         WHERE exec_seq = (SELECT seq FROM executions WHERE seq = ?4 AND id = ?1) AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![id, i64::try_from(after).unwrap_or(i64::MAX), limit as i64, seq],
        row_to_log,
    )?;
    collect_logs(rows)
}

pub(super) fn tail_logs(c: &Connection, id: &str, seq: i64, limit: u64) -> StoreResult<Vec<LogRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT * FROM (SELECT ?1, seq, ts, level, message, attributes, trace_id, span_id FROM logs
         WHERE exec_seq = (SELECT seq FROM executions WHERE seq = ?3 AND id = ?1) ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![id, limit as i64, seq], row_to_log)?;
    collect_logs(rows)
}

pub(super) fn spans(c: &Connection, id: &str, seq: i64, limit: u64) -> StoreResult<Vec<Span>> {
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
}

pub(super) fn alert_snapshot(c: &Connection, since: i64, history: u64) -> StoreResult<AlertSnapshot> {
    let mut stmt = c.prepare("SELECT data FROM alerts WHERE state IN ('pending','firing') OR (state = 'resolved' AND updated_at >= ?1) ORDER BY updated_at")?;
    let alerts = stmt
        .query_map(params![since], |r| r.get::<_, String>(0))?
        .map(|r| decode(r?))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut stmt = c.prepare("SELECT data FROM silences WHERE ends_at >= ?1")?;
    let silences = stmt
        .query_map(params![since], |r| r.get::<_, String>(0))?
        .map(|r| decode(r?))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut stmt =
        c.prepare("SELECT data FROM (SELECT id, data FROM alert_events ORDER BY id DESC LIMIT ?1) ORDER BY id")?;
    let history = stmt
        .query_map(params![history as i64], |r| r.get::<_, String>(0))?
        .map(|r| decode(r?))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(AlertSnapshot {
        alerts,
        silences,
        history,
    })
}

pub(super) fn rollups(c: &Connection, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
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
}

pub(super) fn agent_runs(c: &Connection, id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
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
}
