//! The contract of [`Store`], checked on every backend with the same assertions: the
//! embedded SQLite store, and the PostgreSQL store on the server every development and CI
//! machine runs (127.0.0.1:5432, database `test`; `OBSERVATORY_TEST_POSTGRES` names another).
//! Each PostgreSQL test works in a schema of its own, dropped when it ends.

mod cases;

use super::{PgStore, SqliteStore, Store};
use std::sync::Arc;

pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where one test's store lives; `open` opens it (again, after a close, on the same data).
pub enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Backend {
    pub fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A new, empty schema on the test server.
    pub async fn postgres() -> Self {
        let url = std::env::var("OBSERVATORY_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.into());
        let schema = format!("obs_test_{:016x}", rand::random::<u64>());
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("the PostgreSQL store's tests need PostgreSQL at {url} (set OBSERVATORY_TEST_POSTGRES to use another): {e}")
            });
        tokio::spawn(connection);
        client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        Backend::Postgres { url, schema }
    }

    /// The backend's connection settings, for tests that write to it directly.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let Backend::Postgres { url, schema } = self else {
            panic!("not a PostgreSQL backend")
        };
        let mut config: tokio_postgres::Config = url.parse().unwrap();
        config.options(format!("-c search_path={schema}"));
        config
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(dir) => Arc::new(SqliteStore::open(dir.path(), 60).unwrap()),
            Backend::Postgres { .. } => Arc::new(
                PgStore::connect(self.pg_config(), 60, super::postgres::schema::MIGRATIONS.len())
                    .await
                    .unwrap(),
            ),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let Backend::Postgres { url, schema } = self else {
            return;
        };
        let (url, schema) = (url.clone(), schema.clone());
        // On a thread of its own: the test's runtime may be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((client, connection)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                    tokio::spawn(connection);
                    let _ = client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await;
                }
            });
        })
        .join();
    }
}

/// Each case as a test on each backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() {
                super::cases::$case(super::Backend::sqlite()).await
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $case() {
                super::cases::$case(super::Backend::postgres().await).await
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
);
