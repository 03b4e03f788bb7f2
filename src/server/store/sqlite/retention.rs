//! Retention: finished executions (with their logs and spans) and samples older than the
//! cutoff, then, under a size limit, the oldest finished executions until the store fits.
//! A run deletes a chunk at a time, each in its own transaction, and the writer commits what
//! waits between chunks: a large store's retention never holds ingest up for long.

use super::super::directory::Directory;
use super::super::retention::{rollup_bounds, CHUNK_EXECUTIONS, CHUNK_ROWS, FINISHED, SIZE_ROUND, SIZE_ROUNDS, TIMED};
use super::super::{RetentionReport, StoreResult};
use rusqlite::{params, Connection};

/// Finished executions last updated before the cutoff (`?1`).
fn finished() -> String {
    format!("updated_at < ?1 AND {FINISHED}")
}

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
                    &format!("SELECT MAX(updated_at) FROM (SELECT updated_at FROM executions WHERE {FINISHED} ORDER BY updated_at LIMIT ?1)"),
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
            .prepare_cached(&format!("SELECT seq, id FROM executions WHERE {} LIMIT ?2", finished()))?
            .query_map(params![self.cutoff, CHUNK_EXECUTIONS], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut more = gone.len() as i64 == CHUNK_EXECUTIONS;
        for (seq, _) in &gone {
            forget_index(&tx, *seq)?;
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
                let [step, oldest, newest] = rollup_bounds(now);
                tx.prepare_cached(&sql)?
                    .execute(params![self.cutoff, step, oldest, newest])?
            } else {
                tx.prepare_cached(&sql)?.execute(params![self.cutoff])?
            };
            self.report.samples += n as u64;
            more |= n as i64 == CHUNK_ROWS;
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

/// Removes an execution from the search index: its documents' tokens, and the documents.
fn forget_index(tx: &rusqlite::Transaction<'_>, seq: i64) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM search_text WHERE rowid IN (SELECT doc FROM search_docs WHERE exec_seq = ?1)")?
        .execute(params![seq])?;
    tx.prepare_cached("DELETE FROM search_docs WHERE exec_seq = ?1")?
        .execute(params![seq])?;
    Ok(())
}
