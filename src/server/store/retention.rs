//! What retention deletes and in what steps, the same on every backend, and the record of
//! its last run that stats report.

use super::RetentionReport;
use crate::model::StoreStats;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Finished executions (with their logs and spans) deleted per chunk.
pub const CHUNK_EXECUTIONS: i64 = 200;
/// Rows of each timed table deleted per chunk.
pub const CHUNK_ROWS: i64 = 5_000;
/// Finished executions dropped per round when the store is over its size limit.
pub const SIZE_ROUND: i64 = 500;
/// Most rounds of a size-limited run.
pub const SIZE_ROUNDS: u32 = 1_000;

/// An execution retention may delete (once older than the cutoff).
pub const FINISHED: &str = "status IN ('COMPLETED','FAILED','CANCELLED')";

/// Timed rows older than the cutoff (`?1`), by table: (table, condition). PostgreSQL writes
/// the parameters `$1`…`$4`.
pub const TIMED: [(&str, &str); 9] = [
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
    // ever shows them. (`?2`: the finest step, `?3` its oldest kept, `?4` the newest kept:
    // [`rollup_bounds`].)
    ("rollups", "t < ?1 OR (step_ms = ?2 AND t < ?3) OR t > ?4"),
];

/// The parameters `?2`…`?4` of the roll-ups' condition at `now`.
pub fn rollup_bounds(now: i64) -> [i64; 3] {
    const FINEST_STEP_MS: i64 = 10_000;
    const FINEST_KEPT_MS: i64 = 2 * 3_600_000;
    // Steps ahead of the clock kept: a day covers any time zone mistake being fixed.
    const FUTURE_KEPT_MS: i64 = 24 * 3_600_000;
    [FINEST_STEP_MS, now - FINEST_KEPT_MS, now + FUTURE_KEPT_MS]
}

/// The retention a store was opened with and what its last run did.
pub struct RetentionLog {
    retention_seconds: u64,
    last_run: AtomicI64,
    last_report: Mutex<Option<RetentionReport>>,
}

impl RetentionLog {
    pub fn new(retention_seconds: u64) -> Self {
        Self {
            retention_seconds,
            last_run: AtomicI64::new(0),
            last_report: Mutex::new(None),
        }
    }

    pub fn record(&self, report: &RetentionReport) {
        self.last_run.store(crate::server::clock::now_ms(), Ordering::Relaxed);
        *self.last_report.lock() = Some(report.clone());
    }

    /// A store's stats: its own figures, and retention's.
    pub fn stats(&self, backend: &str, size_bytes: u64, executions: u64, log_records: u64) -> StoreStats {
        let last = self.last_run.load(Ordering::Relaxed);
        StoreStats {
            backend: backend.into(),
            size_bytes,
            executions,
            log_records,
            last_retention_run: (last > 0).then_some(last),
            retention_seconds: self.retention_seconds,
            retention_max_bytes: 0,
            last_retention: self.last_report.lock().clone(),
        }
    }
}
