//! Retention: finished executions (with their logs and spans) and samples older than the
//! cutoff, then, under a size limit, the oldest finished executions until the store fits.

use super::super::directory::Directory;
use super::super::{RetentionReport, StoreResult};
use rusqlite::{params, Connection};

/// The database file's bytes, and those of them in use (less the free list).
fn file_and_used_bytes(conn: &Connection) -> StoreResult<(u64, u64)> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(((pages * size) as u64, ((pages - free).max(0) * size) as u64))
}

/// Finished executions dropped per round when the store is over its size limit.
const SIZE_ROUND: i64 = 500;

pub(super) fn retain(
    conn: &mut Connection,
    cutoff: i64,
    max_bytes: Option<u64>,
    ids: &Directory,
) -> StoreResult<RetentionReport> {
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
    // The finest steps only serve ranges up to an hour; two hours of them are plenty. Steps
    // in the future came from producers' clocks before the hub counted them now: no range
    // ever shows them.
    let now = crate::server::clock::now_ms();
    samples += tx.execute(
        "DELETE FROM rollups WHERE (step_ms = ?1 AND t < ?2) OR t > ?3",
        params![FINEST_STEP_MS, now - FINEST_KEPT_MS, now + FUTURE_KEPT_MS],
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
/// Steps ahead of the clock kept: a day covers any time zone mistake being fixed.
const FUTURE_KEPT_MS: i64 = 24 * 3_600_000;
