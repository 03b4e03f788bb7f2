//! The PostgreSQL schema: versioned migrations, applied at start under an advisory lock so
//! instances starting at once apply each exactly once; and the daily partitions of the
//! tables of spans and log lines.
//!
//! Log lines and spans are partitioned by their execution's creation time (`exec_created`,
//! ms), a partition a day: every row of one execution lands in one partition, so a key that
//! includes the partition key, `(exec_created, execution_id, seq)`, still makes a line
//! numbered twice a conflict, and retention drops a day whose executions are all gone
//! instead of deleting its rows. Days outside the window kept as partitions (a producer's
//! clock far off) go to the default partition, from which retention deletes rows.

use super::super::{StoreError, StoreResult};
use tokio_postgres::GenericClient;

/// Append, never edit. Each runs in the transaction that records its version.
pub const MIGRATIONS: &[&str] = &[
    // 1: entities as JSONB beside the columns queries filter on; spans and log lines in
    // partitioned tables; records append-only.
    r#"
    CREATE TABLE agents (id TEXT PRIMARY KEY, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE TABLE workflows (id TEXT PRIMARY KEY, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE TABLE llm_models (id TEXT PRIMARY KEY, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE TABLE plugins (id TEXT PRIMARY KEY, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE TABLE executions (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        data JSONB NOT NULL
    );
    CREATE INDEX executions_created ON executions (created_at);
    CREATE INDEX executions_agent ON executions (agent_id, created_at);
    CREATE INDEX executions_status ON executions (status, created_at);
    CREATE INDEX executions_updated ON executions (updated_at);
    CREATE TABLE logs (
        exec_created BIGINT NOT NULL,
        execution_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        ts BIGINT NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        attributes JSONB,
        trace_id TEXT,
        span_id TEXT,
        PRIMARY KEY (exec_created, execution_id, seq)
    ) PARTITION BY RANGE (exec_created);
    CREATE TABLE logs_default PARTITION OF logs DEFAULT;
    CREATE TABLE spans (
        exec_created BIGINT NOT NULL,
        execution_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        start_ns BIGINT NOT NULL,
        span JSONB NOT NULL,
        attributes JSONB,
        PRIMARY KEY (exec_created, execution_id, span_id)
    ) PARTITION BY RANGE (exec_created);
    CREATE TABLE spans_default PARTITION OF spans DEFAULT;
    CREATE TABLE llm_calls (ts BIGINT NOT NULL, execution_id TEXT, data JSONB NOT NULL);
    CREATE INDEX llm_calls_ts ON llm_calls (ts);
    CREATE TABLE tool_calls (ts BIGINT NOT NULL, execution_id TEXT, data JSONB NOT NULL);
    CREATE INDEX tool_calls_ts ON tool_calls (ts);
    CREATE TABLE resource_samples (ts BIGINT NOT NULL, execution_id TEXT, agent_id TEXT, cpu_percent DOUBLE PRECISION NOT NULL, memory_bytes BIGINT NOT NULL);
    CREATE INDEX resource_samples_ts ON resource_samples (ts);
    CREATE TABLE system_samples (ts BIGINT NOT NULL, host TEXT NOT NULL, data JSONB NOT NULL);
    CREATE INDEX system_samples_ts ON system_samples (ts);
    CREATE TABLE rollups (step_ms BIGINT NOT NULL, t BIGINT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (step_ms, t));
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    -- Rows counted by the writers, a shard each, so stats never count a table.
    CREATE TABLE counters (name TEXT NOT NULL, shard INT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (name, shard));
    "#,
    // 2: alerts, their history, silences, browser sessions: every instance of a fleet reads
    // them from here.
    r#"
    CREATE TABLE alerts (id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE INDEX alerts_state ON alerts (state, updated_at);
    CREATE TABLE alert_events (id BIGSERIAL PRIMARY KEY, alert_id TEXT NOT NULL, at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE INDEX alert_events_at ON alert_events (at);
    CREATE TABLE silences (id TEXT PRIMARY KEY, ends_at BIGINT NOT NULL, data JSONB NOT NULL);
    CREATE TABLE sessions (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL, data JSONB NOT NULL);
    "#,
    // 3: search (`store/search/`). The columns queries compare, generated from each
    // execution's JSON; each execution's exact terms (byte order, for prefix ranges) and its
    // words as `tsvector`s, a row per execution per commit, partitioned by day as spans are.
    r#"
    ALTER TABLE executions
        ADD COLUMN session_id TEXT GENERATED ALWAYS AS (data->>'session_id') STORED,
        ADD COLUMN user_id TEXT GENERATED ALWAYS AS (data->>'user_id') STORED,
        ADD COLUMN env TEXT GENERATED ALWAYS AS (data->>'environment') STORED,
        ADD COLUMN cost DOUBLE PRECISION GENERATED ALWAYS AS (COALESCE((data->>'cost_usd')::float8, 0)) STORED,
        ADD COLUMN tokens BIGINT GENERATED ALWAYS AS
            (COALESCE((data->>'tokens_in')::int8, 0) + COALESCE((data->>'tokens_out')::int8, 0)) STORED,
        ADD COLUMN duration_ms BIGINT GENERATED ALWAYS AS ((data->>'duration_ms')::int8) STORED;
    CREATE INDEX executions_session ON executions (session_id, created_at) WHERE session_id IS NOT NULL;
    CREATE INDEX executions_user ON executions (user_id, created_at) WHERE user_id IS NOT NULL;
    CREATE INDEX executions_env ON executions (env, created_at) WHERE env IS NOT NULL;
    CREATE TABLE search_terms (
        exec_created BIGINT NOT NULL,
        execution_id TEXT NOT NULL,
        term TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (exec_created, execution_id, term)
    ) PARTITION BY RANGE (exec_created);
    CREATE TABLE search_terms_default PARTITION OF search_terms DEFAULT;
    CREATE INDEX search_terms_term ON search_terms (term);
    CREATE TABLE search_text (
        exec_created BIGINT NOT NULL,
        execution_id TEXT NOT NULL,
        body TSVECTOR NOT NULL,
        error TSVECTOR NOT NULL
    ) PARTITION BY RANGE (exec_created);
    CREATE TABLE search_text_default PARTITION OF search_text DEFAULT;
    CREATE INDEX search_text_execution ON search_text (exec_created, execution_id);
    CREATE INDEX search_text_body ON search_text USING GIN (body);
    CREATE INDEX search_text_error ON search_text USING GIN (error);
    "#,
];

/// Tables partitioned by their execution's day of creation.
pub const PARTITIONED: [&str; 4] = ["logs", "spans", "search_terms", "search_text"];

/// The advisory lock key of schema changes (migrations, partitions): "OBSV" as an integer.
const SCHEMA_LOCK: i64 = 0x4f42_5356;

/// Brings the schema up to `upto` migrations (all of them at start; fewer in tests of an
/// older schema), one transaction per migration.
pub async fn migrate(client: &mut tokio_postgres::Client, upto: usize) -> StoreResult<()> {
    let known = MIGRATIONS.len() as i64;
    // Under the lock: `CREATE TABLE IF NOT EXISTS` run by two sessions at once can still
    // fail on the catalog ("type … already exists").
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    tx.commit().await?;
    for (i, sql) in MIGRATIONS.iter().enumerate().take(upto) {
        let version = i as i64 + 1;
        let tx = client.transaction().await?;
        // Another instance starting at once waits here, then finds the version applied.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
        let found: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
            .await?
            .get(0);
        // Ended explicitly, not by drop: the lock goes at once, not when the driver gets to it.
        if found > known {
            tx.rollback().await?;
            return Err(StoreError::FutureSchema { found, known });
        }
        if found >= version {
            tx.rollback().await?;
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&version, &crate::server::clock::now_ms()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "postgres schema migrated");
    }
    let found: i64 = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])
        .await?
        .get(0);
    if found > known {
        return Err(StoreError::FutureSchema { found, known });
    }
    Ok(())
}

pub const DAY_MS: i64 = 86_400_000;
/// Days kept as partitions: this far back from the clock, and ahead of it.
pub const PARTITION_DAYS_BACK: i64 = 400;
pub const PARTITION_DAYS_AHEAD: i64 = 2;

/// The day (since the epoch) of a time in ms.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Whether a day is kept in a partition of its own, by the clock `now`.
pub fn partitioned(day: i64, now: i64) -> bool {
    let today = day_of(now);
    day >= today - PARTITION_DAYS_BACK && day <= today + PARTITION_DAYS_AHEAD
}

/// Creates the partitions of `day` for spans and log lines unless they exist. False when
/// the default partition already holds rows of that day (they stay there, and retention
/// deletes them as rows).
pub async fn create_partitions(client: &mut tokio_postgres::Client, day: i64) -> StoreResult<bool> {
    let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
    for table in PARTITIONED {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace",
                &[&format!("{table}_d{day}")],
            )
            .await?
            .is_some();
        if exists {
            continue;
        }
        let in_default: bool = tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {table}_default WHERE exec_created >= $1 AND exec_created < $2)"
                ),
                &[&from, &to],
            )
            .await?
            .get(0);
        if in_default {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.batch_execute(&format!(
            "CREATE TABLE {table}_d{day} PARTITION OF {table} FOR VALUES FROM ({from}) TO ({to})"
        ))
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// The day partitions of a table: (day, table name), oldest first.
pub async fn partitions(client: &impl GenericClient, table: &str) -> StoreResult<Vec<(i64, String)>> {
    let rows = client
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace",
            &[&table],
        )
        .await?;
    let prefix = format!("{table}_d");
    let mut days: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|r| {
            let name: String = r.get(0);
            let day = name.strip_prefix(&prefix)?.parse().ok()?;
            Some((day, name))
        })
        .collect();
    days.sort();
    Ok(days)
}
