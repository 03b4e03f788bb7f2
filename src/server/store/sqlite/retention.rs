//! Retention: finished executions (with their logs and spans) and samples older than the
//! cutoff, then, under a size limit, the oldest finished executions until the store fits.
//! A run deletes a chunk at a time, each in its own transaction, and the writer commits what
//! waits between chunks: a large store's retention never holds ingest up for long.

use super::super::directory::Directory;
use super::super::{RetentionReport, StoreResult};
use rusqlite::{params, Connection};

/// Finished executions (with their logs and spans) deleted per chunk.
const CHUNK_EXECUTIONS: usize = 200;
/// Rows of each timed table deleted per chunk.
const CHUNK_ROWS: usize = 5_000;
/// Finished executions dropped per round when the store is over its size limit.
const SIZE_ROUND: i64 = 500;
/// Most rounds of a size-limited run.
const SIZE_ROUNDS: u32 = 1_000;

const FINEST_STEP_MS: i64 = 10_000;
const FINEST_KEPT_MS: i64 = 2 * 3_600_000;
/// Steps ahead of the clock kept: a day covers any time zone mistake being fixed.
const FUTURE_KEPT_MS: i64 = 24 * 3_600_000;

/// Finished executions last updated before the cutoff (`?1`).
const FINISHED: &str = "updated_at < ?1 AND status IN ('COMPLETED','FAILED','CANCELLED')";

/// Timed rows older than the cutoff (`?1`), by table: (table, condition).
const TIMED: [(&str, &str); 9] = [
    ("resource_samples", "ts < ?1"),
    ("llm_calls", "ts < ?1"),
    ("tool_calls", "ts < ?1"),
    ("system_samples", "ts < ?1"),
    ("alerts", "updated_at < ?1 AND state IN ('resolved','inactive')"),
    ("alert_events", "at < ?1"),
    ("silences", "ends_at < ?1"),
    ("sessions", "expires_at < ?1"),
    // The finest steps only serve ranges up to an hour; two hours of them are plenty. Steps
    // in the future came from producers' clocks before the hub counted them now: no range
    // ever shows them. (`?2`: the finest step, `?3` its oldest kept, `?4` the newest kept.)
    ("rollups", "t < ?1 OR (step_ms = ?2 AND t < ?3) OR t > ?4"),
];

/// The database file's bytes, and those of them in use (less the free list).
fn file_and_used_bytes(conn: &Connection) -> StoreResult<(u64, u64)> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages * size) as u64, ((pages - free).max(0) * size) as u64))
}

/// One retention run, advanced by [`Retention::step`].
pub(super) struct Retention {
    cutoff: i64,
    max_bytes: Option<u64>,
    rounds: u32,
    before_bytes: u64,
    pub(super) report: RetentionReport,
}

impl Retention {
    pub(super) fn start(conn: &Connection, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<Self> {
        Ok(Self {
            cutoff,
            max_bytes,
            rounds: 0,
            before_bytes: file_and_used_bytes(conn)?.0,
            report: RetentionReport::default(),
        })
    }

    /// Deletes one chunk in its own transaction; true once the run is over (the report is
    /// complete and the space given back).
    pub(super) fn step(&mut self, conn: &mut Connection, ids: &Directory) -> StoreResult<bool> {
        if self.delete_chunk(conn, ids)? {
            return Ok(false);
        }
        // Nothing left before this cutoff. Over the size limit, the cutoff moves past the
        // next SIZE_ROUND oldest finished executions (or past all of them, when fewer are left).
        if let Some(max) = self.max_bytes {
            if self.rounds < SIZE_ROUNDS && file_and_used_bytes(conn)?.1 > max {
                let next: Option<i64> = conn.query_row(
                    "SELECT MAX(updated_at) FROM (SELECT updated_at FROM executions \
                     WHERE status IN ('COMPLETED','FAILED','CANCELLED') ORDER BY updated_at LIMIT ?1)",
                    params![SIZE_ROUND],
                    |r| r.get(0),
                )?;
                if let Some(next) = next {
                    self.rounds += 1;
                    self.cutoff = self.cutoff.max(next + 1);
                    self.report.by_size = true;
                    return Ok(false);
                }
            }
        }
        self.give_back(conn)?;
        Ok(true)
    }

    /// Deletes up to a chunk of what is older than the cutoff; true if more may be left.
    fn delete_chunk(&mut self, conn: &mut Connection, ids: &Directory) -> StoreResult<bool> {
        let tx = conn.transaction()?;
        let gone: Vec<(i64, String)> = tx
            .prepare_cached(&format!("SELECT seq, id FROM executions WHERE {FINISHED} LIMIT ?2"))?
            .query_map(params![self.cutoff, CHUNK_EXECUTIONS as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut more = gone.len() == CHUNK_EXECUTIONS;
        for (seq, _) in &gone {
            self.report.logs += tx
                .prepare_cached("DELETE FROM logs WHERE exec_seq = ?1")?
                .execute(params![seq])? as u64;
            self.report.samples += tx
                .prepare_cached("DELETE FROM span_chunks WHERE exec_seq = ?1")?
                .execute(params![seq])? as u64;
            self.report.executions += tx
                .prepare_cached("DELETE FROM executions WHERE seq = ?1")?
                .execute(params![seq])? as u64;
        }
        let now = crate::server::clock::now_ms();
        for (table, condition) in TIMED {
            // Rollups are keyed by (step, t) without a rowid.
            let (key, columns) = if table == "rollups" {
                ("(step_ms, t)", "step_ms, t")
            } else {
                ("rowid", "rowid")
            };
            let sql = format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {columns} FROM {table} WHERE {condition} LIMIT {CHUNK_ROWS})"
            );
            let n = if table == "rollups" {
                tx.prepare_cached(&sql)?.execute(params![
                    self.cutoff,
                    FINEST_STEP_MS,
                    now - FINEST_KEPT_MS,
                    now + FUTURE_KEPT_MS
                ])?
            } else {
                tx.prepare_cached(&sql)?.execute(params![self.cutoff])?
            };
            self.report.samples += n as u64;
            more |= n == CHUNK_ROWS;
        }
        tx.commit()?;
        ids.remove(gone.iter().map(|(_, id)| id.as_str()));
        Ok(more)
    }

    /// Frees the deleted pages and shrinks the file.
    fn give_back(&mut self, conn: &mut Connection) -> StoreResult<()> {
        // Each step of the pragma frees one page: step it to the end.
        {
            let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
            let mut freed = vacuum.query([])?;
            while freed.next()?.is_some() {}
        }
        // In WAL mode the file shrinks when the log is checkpointed; do it now, and empty the log.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.report.reclaimed_bytes = self.before_bytes.saturating_sub(file_and_used_bytes(conn)?.0);
        Ok(())
    }
}
