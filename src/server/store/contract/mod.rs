//! The contract of [`Store`], checked on every backend with the same assertions: the
//! embedded SQLite store, and the PostgreSQL store on the server every development and CI
//! machine runs (127.0.0.1:5432, database `test`; `OBSERVATORY_TEST_POSTGRES` names another).
//! Each PostgreSQL test works in a schema of its own ([`ScratchSchema`]), dropped when it ends.

mod cases;
mod search;

use super::postgres::scratch::ScratchSchema;
use super::{PgStore, SqliteStore, Store, WriteBatch};
use crate::model::{Execution, ExecutionStatus, LogLevel, LogRecord};
use std::sync::Arc;

/// Where one test's store lives; `open` opens it (again, after a close, on the same data).
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(ScratchSchema),
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A new, empty schema on the test server.
    pub async fn postgres() -> Self {
        Backend::Postgres(ScratchSchema::for_tests().await)
    }

    /// The backend's connection settings, for tests that write to it directly.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let Backend::Postgres(schema) = self else {
            panic!("not a PostgreSQL backend")
        };
        schema.config()
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path(), 60).unwrap()),
            Backend::Postgres(schema) => Arc::new(
                PgStore::connect(schema.config(), 60, super::postgres::schema::MIGRATIONS.len())
                    .await
                    .unwrap(),
            ),
        }
    }
}

/// An execution of agent `a` created and last updated at `at`.
pub fn exec(id: &str, status: ExecutionStatus, at: i64) -> Execution {
    Execution {
        id: id.into(),
        agent_id: "a".into(),
        status,
        created_at: at,
        updated_at: at,
        ..Default::default()
    }
}

/// Line `seq` of an execution.
pub fn log(id: &str, seq: u64) -> LogRecord {
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

/// Commits a running execution with its first log line.
pub async fn start(store: &dyn Store, id: &str, at: i64) {
    let batch = WriteBatch {
        executions: vec![exec(id, ExecutionStatus::Running, at)],
        logs: vec![log(id, 1)],
        ..Default::default()
    };
    store.commit(batch).await.unwrap();
}

/// Each case as a test on each backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::sqlite()).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::$case(super::Backend::postgres().await).await
            })*
        }
    };
}

on_every_backend!(
    commits_are_readable_and_survive_reopen,
    filters_and_pages_executions,
    retention_drops_old_finished_executions_and_their_logs,
    retention_by_size_drops_the_oldest_finished_first_and_gives_space_back,
    the_probe_writes_and_reads_back,
    spans_round_trip_in_start_order_and_go_with_retention,
    records_of_an_execution_the_store_does_not_hold_fail_the_commit,
    the_count_of_log_lines_follows_commits_repeats_retention_and_restarts,
    the_finest_roll_ups_are_kept_by_the_clock_not_by_their_latest_step,
    commits_go_through_while_a_large_retention_run_deletes_chunk_by_chunk,
    entities_alerts_and_sessions_round_trip,
    text_with_nul_characters_is_stored,
    every_kind_of_term_finds_its_executions,
    retention_takes_executions_out_of_the_index,
);

use cases::*;
use search::*;
