//! Retention on PostgreSQL. A day's partitions of spans and log lines are dropped whole once
//! every execution created that day is finished and older than the cutoff: no rows to
//! delete, the space back at once. Executions elsewhere (a day still holding a running one,
//! the default partition) are deleted a chunk at a time, each chunk its own transaction, as
//! are the other timed tables. Under a size limit the cutoff then moves past the oldest
//! finished executions until the store fits, as on SQLite.

use super::super::retention::{rollup_bounds, CHUNK_EXECUTIONS, CHUNK_ROWS, FINISHED, SIZE_ROUND, SIZE_ROUNDS, TIMED};
use super::super::{RetentionReport, StoreError, StoreResult};
use super::schema::{self, DAY_MS};
use super::write::count;
use deadpool_postgres::Pool;

/// Bytes of the schema's tables with their indexes and TOAST.
pub async fn size(client: &tokio_postgres::Client) -> StoreResult<u64> {
    let bytes: i64 = client
        .query_one(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'",
            &[],
        )
        .await?
        .get(0);
    Ok(bytes.max(0) as u64)
}

pub async fn run(pool: &Pool, cutoff: i64, max_bytes: Option<u64>, shard: i32) -> StoreResult<RetentionReport> {
    let client = pool.get().await.map_err(StoreError::pool)?;
    let before = size(&client).await?;
    let mut report = RetentionReport::default();
    let mut cutoff = cutoff;
    let mut rounds = 0;
    loop {
        drop_days(pool, cutoff, &mut report, shard).await?;
        while delete_chunk(pool, cutoff, &mut report, shard).await? {}
        let Some(max) = max_bytes else { break };
        if rounds >= SIZE_ROUNDS || size(&client).await? <= max {
            break;
        }
        let next: Option<i64> = client
            .query_one(
                &format!("SELECT MAX(updated_at) FROM (SELECT updated_at FROM executions WHERE {FINISHED} ORDER BY updated_at LIMIT $1) t"),
                &[&SIZE_ROUND],
            )
            .await?
            .get(0);
        let Some(next) = next else { break };
        rounds += 1;
        cutoff = cutoff.max(next + 1);
        report.by_size = true;
    }
    // Deleted rows' pages are reused by later inserts; a plain VACUUM also hands back the
    // empty pages at the end of each table.
    for table in [
        "executions",
        "logs_default",
        "spans_default",
        "search_terms_default",
        "search_text_default",
        "llm_calls",
        "tool_calls",
        "resource_samples",
    ] {
        client.batch_execute(&format!("VACUUM {table}")).await?;
    }
    report.reclaimed_bytes = before.saturating_sub(size(&client).await?);
    Ok(report)
}

/// Drops the partitions of every day before today whose executions are all finished before
/// the cutoff (or gone: a day emptied by the row deletes of an earlier round).
async fn drop_days(pool: &Pool, cutoff: i64, report: &mut RetentionReport, shard: i32) -> StoreResult<()> {
    let mut client = pool.get().await.map_err(StoreError::pool)?;
    let today = schema::day_of(crate::server::clock::now_ms());
    for (day, _) in schema::partitions(&**client, "logs").await? {
        let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
        if day >= today {
            break;
        }
        let tx = client.transaction().await?;
        let kept: bool = tx
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM executions WHERE created_at >= $1 AND created_at < $2 \
                     AND NOT ({FINISHED} AND updated_at < $3))"
                ),
                &[&from, &to, &cutoff],
            )
            .await?
            .get(0);
        if kept {
            tx.rollback().await?;
            continue;
        }
        let logs: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM logs_d{day}"), &[])
            .await?
            .get(0);
        let spans: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM spans_d{day}"), &[])
            .await?
            .get(0);
        let executions = tx
            .execute(
                "DELETE FROM executions WHERE created_at >= $1 AND created_at < $2",
                &[&from, &to],
            )
            .await? as i64;
        for table in schema::PARTITIONED {
            tx.batch_execute(&format!("DROP TABLE IF EXISTS {table}_d{day}"))
                .await?;
        }
        count(&tx, shard, -executions, -logs).await?;
        tx.commit().await?;
        report.executions += executions as u64;
        report.logs += logs as u64;
        report.samples += spans as u64;
    }
    Ok(())
}

/// Deletes up to a chunk of finished executions older than the cutoff (with their spans and
/// lines) and of each timed table; true if more may be left.
async fn delete_chunk(pool: &Pool, cutoff: i64, report: &mut RetentionReport, shard: i32) -> StoreResult<bool> {
    let mut client = pool.get().await.map_err(StoreError::pool)?;
    let tx = client.transaction().await?;
    let gone = tx
        .query(
            &format!("DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE updated_at < $1 AND {FINISHED} LIMIT $2) RETURNING id, created_at"),
            &[&cutoff, &CHUNK_EXECUTIONS],
        )
        .await?;
    let mut more = gone.len() as i64 == CHUNK_EXECUTIONS;
    let ids: Vec<&str> = gone.iter().map(|r| r.get(0)).collect();
    let created: Vec<i64> = gone.iter().map(|r| r.get(1)).collect();
    let mut logs = 0;
    if !ids.is_empty() {
        let delete = |table: &str| {
            format!(
                "DELETE FROM {table} t USING unnest($1::text[], $2::int8[]) AS g(id, created) \
                 WHERE t.exec_created = g.created AND t.execution_id = g.id"
            )
        };
        logs = tx.execute(&delete("logs"), &[&ids, &created]).await? as i64;
        report.samples += tx.execute(&delete("spans"), &[&ids, &created]).await?;
        for table in ["search_terms", "search_text"] {
            tx.execute(&delete(table), &[&ids, &created]).await?;
        }
    }
    let now = crate::server::clock::now_ms();
    for (table, condition) in TIMED {
        let condition = condition.replace('?', "$");
        let sql = format!(
            "DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {condition} LIMIT {CHUNK_ROWS})"
        );
        let n = if table == "rollups" {
            let [step, oldest, newest] = rollup_bounds(now);
            tx.execute(&sql, &[&cutoff, &step, &oldest, &newest]).await?
        } else {
            tx.execute(&sql, &[&cutoff]).await?
        };
        report.samples += n;
        more |= n as i64 == CHUNK_ROWS;
    }
    count(&tx, shard, -(gone.len() as i64), -logs).await?;
    tx.commit().await?;
    report.executions += gone.len() as u64;
    report.logs += logs as u64;
    Ok(more)
}
