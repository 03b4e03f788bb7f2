//! The reads, on a pooled connection each.

use super::super::search::{self, Backend, Param};
use super::super::span_chunks;
use super::super::{
    AlertSnapshot, ExecutionQuery, GroupQuery, RollupRange, RollupRow, RunRow, SessionRow, Snapshot, StoreResult,
};
use crate::model::{Agent, Execution, LogRecord, RunGroup, SavedView, Span};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

/// The JSON column of each row `sql` selects (as text), decoded; a row that does not decode
/// is left out, logged with its table and counted in `skipped` (one bad row must not keep
/// the server from starting).
async fn decodable<T: serde::de::DeserializeOwned>(
    c: &Client,
    sql: &str,
    args: &[&(dyn ToSql + Sync)],
    table: &str,
    skipped: &mut u64,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for row in c.query(sql, args).await? {
        match serde_json::from_str(row.get::<_, &str>(0)) {
            Ok(item) => out.push(item),
            Err(e) => {
                *skipped += 1;
                tracing::error!(table, error = %e, "a stored row does not decode: left out");
            }
        }
    }
    Ok(out)
}

/// Every row's JSON decoded, or the first error.
fn decode_all<T: serde::de::DeserializeOwned>(rows: Vec<Row>) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
        .collect()
}

/// In one read-only `REPEATABLE READ` transaction, so the rows and the stream position are
/// of one moment: a follower rebuilding its hub then follows from exactly the batch after.
pub async fn snapshot(c: &Client, since: i64, ranges: &[RollupRange]) -> StoreResult<Snapshot> {
    c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let read = snapshot_in(c, since, ranges).await;
    // Ended either way: the connection goes back to the pool.
    c.batch_execute(if read.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await?;
    read
}

async fn snapshot_in(c: &Client, since: i64, ranges: &[RollupRange]) -> StoreResult<Snapshot> {
    let bus_position = super::write::position(c).await?;
    let mut skipped = 0;
    let executions = decodable(
        c,
        "SELECT data::text FROM executions WHERE status IN ('PENDING','RUNNING') OR updated_at >= $1 ORDER BY created_at",
        &[&since],
        "executions",
        &mut skipped,
    )
    .await?;
    let system = decodable(
        c,
        "SELECT data::text FROM system_samples ORDER BY ts DESC LIMIT 1",
        &[],
        "system_samples",
        &mut skipped,
    )
    .await?
    .pop();
    let mut rollups = Vec::new();
    for r in ranges {
        rollups.extend(self::rollups(c, r.step_ms, r.from, i64::MAX).await?);
    }
    Ok(Snapshot {
        agents: decodable(c, "SELECT data::text FROM agents", &[], "agents", &mut skipped).await?,
        workflows: decodable(c, "SELECT data::text FROM workflows", &[], "workflows", &mut skipped).await?,
        llm: decodable(c, "SELECT data::text FROM llm_models", &[], "llm_models", &mut skipped).await?,
        plugins: decodable(c, "SELECT data::text FROM plugins", &[], "plugins", &mut skipped).await?,
        executions,
        system,
        rollups,
        bus_position,
        skipped,
    })
}

pub async fn sessions(c: &Client, now: i64) -> StoreResult<Vec<SessionRow>> {
    let rows = c
        .query(
            "SELECT digest, expires_at, data::text FROM sessions WHERE expires_at > $1",
            &[&now],
        )
        .await?;
    let mut out = Vec::new();
    for r in rows {
        match serde_json::from_str(r.get::<_, &str>(2)) {
            Ok(principal) => out.push(SessionRow {
                digest: r.get(0),
                principal,
                expires_at: r.get(1),
            }),
            Err(e) => tracing::error!(error = %e, "a stored session does not decode; it is left out"),
        }
    }
    Ok(out)
}

pub async fn agent(c: &Client, id: &str) -> StoreResult<Option<Agent>> {
    let mut skipped = 0;
    Ok(decodable(
        c,
        "SELECT data::text FROM agents WHERE id = $1",
        &[&id],
        "agents",
        &mut skipped,
    )
    .await?
    .pop())
}

type Bound = Box<dyn ToSql + Sync + Send>;

fn boxed(p: Param) -> Bound {
    match p {
        Param::Text(t) => Box::new(t),
        Param::Int(i) => Box::new(i),
        Param::Real(r) => Box::new(r),
    }
}

fn refs(args: &[Bound]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect()
}

pub async fn executions(c: &Client, q: &ExecutionQuery) -> StoreResult<(Vec<Execution>, u64)> {
    let mut filter = String::from(" WHERE true");
    let mut args: Vec<Bound> = Vec::new();
    if let Some(agent) = &q.agent_id {
        args.push(Box::new(agent.clone()));
        filter.push_str(&format!(" AND x.agent_id = ${}", args.len()));
    }
    if let Some(workflow) = &q.workflow_id {
        args.push(Box::new(workflow.clone()));
        filter.push_str(&format!(" AND x.data->>'workflow_id' = ${}", args.len()));
    }
    if let Some(status) = q.status {
        args.push(Box::new(status.as_str()));
        filter.push_str(&format!(" AND x.status = ${}", args.len()));
    }
    if !q.filter.is_all() {
        let now = crate::server::clock::now_ms();
        let cond = search::condition(&q.filter, Backend::Postgres, args.len() + 1, now);
        filter.push_str(&format!(" AND ({})", cond.sql));
        args.extend(cond.params.into_iter().map(boxed));
    }
    let count = match q.count_up_to {
        Some(n) => format!("SELECT COUNT(*) FROM (SELECT 1 FROM executions x{filter} LIMIT {n}) c"),
        None => format!("SELECT COUNT(*) FROM executions x{filter}"),
    };
    let total: i64 = c.query_one(&count, &refs(&args)).await?.get(0);
    if let Some(cursor) = &q.after {
        let cond = search::after(cursor, Backend::Postgres, args.len() + 1);
        filter.push_str(&format!(" AND ({})", cond.sql));
        args.extend(cond.params.into_iter().map(boxed));
    }
    let order = if q.oldest_first {
        "x.created_at, x.id COLLATE \"C\""
    } else {
        "x.created_at DESC, x.id COLLATE \"C\""
    };
    let n = args.len();
    args.push(Box::new(q.limit as i64));
    args.push(Box::new(q.offset as i64));
    let rows = c
        .query(
            &format!(
                "SELECT x.data::text FROM executions x{filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &refs(&args),
        )
        .await?;
    Ok((decode_all(rows)?, total.max(0) as u64))
}

pub async fn groups(c: &Client, q: &GroupQuery) -> StoreResult<(Vec<RunGroup>, u64)> {
    let cond = search::condition(&q.filter, Backend::Postgres, 1, crate::server::clock::now_ms());
    let (page, count) = search::groups(q.by, &cond, Backend::Postgres);
    let mut args: Vec<Bound> = cond.params.into_iter().map(boxed).collect();
    let total: i64 = c.query_one(&count, &refs(&args)).await?.get(0);
    args.push(Box::new(q.limit as i64));
    args.push(Box::new(q.offset as i64));
    let rows = c.query(&page, &refs(&args)).await?;
    let n = |r: &Row, i: usize| r.get::<_, Option<i64>>(i).unwrap_or(0).max(0) as u64;
    let groups = rows
        .iter()
        .map(|r| RunGroup {
            id: r.get(0),
            executions: n(r, 1),
            failed: n(r, 2),
            running: n(r, 3),
            cost_usd: r.get::<_, Option<f64>>(4).unwrap_or(0.0),
            tokens: n(r, 5),
            duration_ms: n(r, 6),
            first_at: r.get(7),
            last_at: r.get(8),
            agents: search::agents(r.get(9)),
        })
        .collect();
    Ok((groups, total.max(0) as u64))
}

pub async fn environments(c: &Client, limit: u64) -> StoreResult<Vec<String>> {
    let rows = c
        .query(
            "SELECT env FROM executions WHERE env IS NOT NULL GROUP BY env ORDER BY COUNT(*) DESC, env LIMIT $1",
            &[&(limit as i64)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub async fn views(c: &Client) -> StoreResult<Vec<SavedView>> {
    let rows = c
        .query(
            "SELECT value FROM meta WHERE key COLLATE \"C\" >= 'view:' AND key COLLATE \"C\" < 'view;' ORDER BY key",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
        .collect()
}

pub async fn executions_by_id(c: &Client, ids: &[String]) -> StoreResult<Vec<Execution>> {
    decode_all(
        c.query("SELECT data::text FROM executions WHERE id = ANY($1)", &[&ids])
            .await?,
    )
}

fn log_of(r: &Row) -> StoreResult<LogRecord> {
    let attributes: Option<&str> = r.get(5);
    Ok(LogRecord {
        execution_id: r.get(0),
        seq: r.get::<_, i64>(1).max(0) as u64,
        timestamp: r.get(2),
        level: r.get::<_, &str>(3).parse().unwrap_or_default(),
        message: r.get(4),
        attributes: match attributes {
            Some(a) => serde_json::from_str(a)?,
            None => Default::default(),
        },
        trace_id: r.get(6),
        span_id: r.get(7),
    })
}

/// The partition of an execution's spans and lines (`$1`: its id), found in the same
/// statement: PostgreSQL prunes the other partitions when it runs it.
const PARTITION: &str = "exec_created = (SELECT created_at FROM executions WHERE id = $1) AND execution_id = $1";

const LOG_COLUMNS: &str = "execution_id, seq, ts, level, message, attributes::text, trace_id, span_id";

pub async fn logs(c: &Client, id: &str, after: u64, limit: u64) -> StoreResult<Vec<LogRecord>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows = c
        .query(
            &format!("SELECT {LOG_COLUMNS} FROM logs WHERE {PARTITION} AND seq > $2 ORDER BY seq LIMIT $3"),
            &[&id, &after, &(limit as i64)],
        )
        .await?;
    rows.iter().map(log_of).collect()
}

pub async fn tail_logs(c: &Client, id: &str, limit: u64) -> StoreResult<Vec<LogRecord>> {
    let rows = c
        .query(
            &format!("SELECT * FROM (SELECT {LOG_COLUMNS} FROM logs WHERE {PARTITION} ORDER BY seq DESC LIMIT $2) t ORDER BY seq"),
            &[&id, &(limit as i64)],
        )
        .await?;
    rows.iter().map(log_of).collect()
}

pub async fn spans(c: &Client, id: &str, limit: u64) -> StoreResult<Vec<Span>> {
    let rows = c
        .query(
            &format!(
                "SELECT span::text, attributes::text FROM spans WHERE {PARTITION} ORDER BY start_ns, span_id LIMIT $2"
            ),
            &[&id, &(limit as i64)],
        )
        .await?;
    rows.iter()
        .map(|r| span_chunks::decode_one(r.get(0), r.get(1)))
        .collect()
}

pub async fn alert_snapshot(c: &Client, since: i64, history: u64) -> StoreResult<AlertSnapshot> {
    let alerts = c
        .query(
            "SELECT data::text FROM alerts WHERE state IN ('pending','firing') OR (state = 'resolved' AND updated_at >= $1) ORDER BY updated_at",
            &[&since],
        )
        .await?;
    let silences = c
        .query("SELECT data::text FROM silences WHERE ends_at >= $1", &[&since])
        .await?;
    let history_rows = c
        .query(
            "SELECT data::text FROM (SELECT id, data FROM alert_events ORDER BY id DESC LIMIT $1) t ORDER BY id",
            &[&(history as i64)],
        )
        .await?;
    Ok(AlertSnapshot {
        alerts: decode_all(alerts)?,
        silences: decode_all(silences)?,
        history: decode_all(history_rows)?,
    })
}

pub async fn rollups(c: &Client, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
    let rows = c
        .query(
            "SELECT t, data FROM rollups WHERE step_ms = $1 AND t >= $2 AND t < $3 ORDER BY t",
            &[&step_ms, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RollupRow {
            step_ms,
            t: r.get(0),
            data: r.get(1),
        })
        .collect())
}

pub async fn agent_runs(c: &Client, id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
    let rows = c
        .query(
            "SELECT status, created_at, (data->>'ended_at')::bigint, (data->>'duration_ms')::bigint, \
                    COALESCE((data->>'tokens_in')::bigint, 0) + COALESCE((data->>'tokens_out')::bigint, 0), \
                    (data->>'cost_usd')::float8 \
             FROM executions WHERE agent_id = $1 AND created_at >= $2 ORDER BY created_at DESC LIMIT $3",
            &[&id, &from, &(limit as i64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| RunRow {
            status: r.get::<_, &str>(0).parse().unwrap_or_default(),
            created_at: r.get(1),
            ended_at: r.get(2),
            duration_ms: r.get::<_, Option<i64>>(3).map(|d| d.max(0) as u64),
            tokens: r.get::<_, Option<i64>>(4).unwrap_or(0).max(0) as u64,
            cost_usd: r.get::<_, Option<f64>>(5).unwrap_or(0.0),
        })
        .collect())
}
