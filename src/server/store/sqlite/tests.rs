use super::writer::write;
use super::*;
use crate::model::ExecutionStatus;
use crate::server::store::contract::{exec, log, start};
use rusqlite::params;

/// A database in `dir` at schema `version`, as an older build left it.
fn database_at(dir: &Path, version: usize) -> Connection {
    let c = Connection::open(dir.join("observatory.db")).unwrap();
    for sql in &MIGRATIONS[..version] {
        c.execute_batch(sql).unwrap();
    }
    c.pragma_update(None, "user_version", version as i64).unwrap();
    c
}

#[tokio::test]
async fn schema_5_keeps_one_row_per_span_of_an_execution() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A store at schema 4 holding one span twice, under two trace ids.
        let c = database_at(dir.path(), 4);
        c.execute(
            "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES ('e', 'a', 'COMPLETED', 1, 1, ?1)",
            params![serde_json::to_string(&exec("e", ExecutionStatus::Completed, 1)).unwrap()],
        )
        .unwrap();
        for (trace, name) in [("t1", "first"), ("t2", "second")] {
            c.execute(
                "INSERT INTO spans (trace_id, span_id, execution_id, name, category, span_kind, start_ns, end_ns, status)
                 VALUES (?1, 's', 'e', ?2, 'other', 'internal', 1, 2, 'unset')",
                params![trace, name],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    let got = store.spans("e", 10).await.unwrap();
    assert_eq!(got.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["second"]);
    store.close().await;
}

#[tokio::test]
async fn schema_8_turns_span_rows_into_one_chunk_per_execution_keeping_every_field() {
    use crate::model::{SpanCategory, SpanEventRecord, SpanStatus};
    let dir = tempfile::tempdir().unwrap();
    let mut chat = Span {
        trace_id: "t".repeat(32),
        span_id: "c".repeat(16),
        parent_span_id: Some("r".repeat(16)),
        execution_id: "t".repeat(32),
        name: "chat gpt-4o".into(),
        category: SpanCategory::Llm,
        span_kind: "client".into(),
        operation: Some("chat".into()),
        service: Some("svc".into()),
        start_unix_nano: 1_700_000_000_123_456_789,
        end_unix_nano: 1_700_000_001_000_000_000,
        status: SpanStatus::Error,
        status_message: Some("rate limited".into()),
        agent_name: Some("researcher".into()),
        provider: Some("openai".into()),
        model: Some("gpt-4o".into()),
        tokens_in: Some(1200),
        tokens_out: Some(150),
        cost_usd: Some(0.0125),
        ttft_ms: Some(310.5),
        tool_name: None,
        ..Default::default()
    };
    chat.attributes
        .insert("gen_ai.request.max_tokens".into(), serde_json::json!(1024));
    chat.events.push(SpanEventRecord {
        name: "exception".into(),
        time_unix_nano: 1_700_000_000_900_000_000,
        attributes: [("exception.type".to_string(), serde_json::json!("RateLimitError"))].into(),
    });
    chat.set_ms();
    let mut root = Span {
        trace_id: "t".repeat(32),
        span_id: "r".repeat(16),
        execution_id: "t".repeat(32),
        name: "invoke_agent researcher".into(),
        category: SpanCategory::Agent,
        span_kind: "internal".into(),
        start_unix_nano: 1_700_000_000_000_000_000,
        end_unix_nano: 1_700_000_002_000_000_000,
        ..Default::default()
    };
    root.set_ms();
    {
        // A store at schema 7 with the two spans as rows.
        let c = database_at(dir.path(), 7);
        let data = serde_json::to_string(&exec(&chat.execution_id, ExecutionStatus::Completed, 1)).unwrap();
        c.execute(
            "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES (?1, 'a', 'COMPLETED', 1, 1, ?2)",
            params![chat.execution_id, data],
        )
        .unwrap();
        let mut insert = c
            .prepare(
                "INSERT INTO spans (trace_id, span_id, exec_seq, parent_span_id, name, category, span_kind, operation, service,
                 start_ns, end_ns, status, status_message, agent_name, provider, model, tokens_in, tokens_out, cost_usd, ttft_ms,
                 tool_name, attributes, events) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22)",
            )
            .unwrap();
        for s in [&chat, &root] {
            let attributes = (!s.attributes.is_empty()).then(|| serde_json::to_string(&s.attributes).unwrap());
            let events = (!s.events.is_empty()).then(|| serde_json::to_string(&s.events).unwrap());
            insert
                .execute(params![
                    s.trace_id,
                    s.span_id,
                    s.parent_span_id,
                    s.name,
                    s.category.as_str(),
                    s.span_kind,
                    s.operation,
                    s.service,
                    s.start_unix_nano as i64,
                    s.end_unix_nano as i64,
                    s.status.as_str(),
                    s.status_message,
                    s.agent_name,
                    s.provider,
                    s.model,
                    s.tokens_in.map(|v| v as i64),
                    s.tokens_out.map(|v| v as i64),
                    s.cost_usd,
                    s.ttft_ms,
                    s.tool_name,
                    attributes,
                    events,
                ])
                .unwrap();
        }
    }
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    assert_eq!(store.spans(&chat.execution_id, 10).await.unwrap(), [root, chat]);
    store.close().await;
    let c = Connection::open(dir.path().join("observatory.db")).unwrap();
    let (chunks, kind): (i64, String) = c
        .query_row("SELECT COUNT(*), MAX(typeof(spans)) FROM span_chunks", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((chunks, kind.as_str()), (1, "blob"));
}

#[tokio::test]
async fn schema_6_keys_spans_and_logs_by_the_executions_sequence() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A store at schema 5: two executions, each with a span and a log line.
        let c = database_at(dir.path(), 5);
        for (id, at) in [("late", 20), ("early", 10)] {
            let data = serde_json::to_string(&exec(id, ExecutionStatus::Completed, at)).unwrap();
            c.execute(
                "INSERT INTO executions (id, agent_id, status, created_at, updated_at, data) VALUES (?1, 'a', 'COMPLETED', ?2, ?2, ?3)",
                params![id, at, data],
            )
            .unwrap();
            c.execute(
                "INSERT INTO spans (trace_id, span_id, execution_id, name, category, span_kind, start_ns, end_ns, status)
                 VALUES (?1, 's', ?1, ?2, 'other', 'internal', 1, 2, 'unset')",
                params![id, format!("span of {id}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO logs (execution_id, seq, ts, level, message) VALUES (?1, 1, ?2, 'info', ?3)",
                params![id, at, format!("log of {id}")],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    for id in ["early", "late"] {
        let spans = store.spans(id, 10).await.unwrap();
        assert_eq!(
            spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            [format!("span of {id}")]
        );
        assert_eq!(spans[0].execution_id, id);
        let logs = store.logs(id, 0, 10).await.unwrap();
        assert_eq!(
            logs.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
            [format!("log of {id}")]
        );
        assert_eq!(logs[0].execution_id, id);
    }
    // New executions number on after the migrated ones, numbered in creation order.
    start(&store, "new", 30).await;
    assert_eq!(store.tail_logs("new", 10).await.unwrap(), vec![log("new", 1)]);
    store.close().await;
    let c = Connection::open(dir.path().join("observatory.db")).unwrap();
    let strings = |sql: &str| -> Vec<String> {
        let mut stmt = c.prepare(sql).unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(
        strings("SELECT id FROM executions ORDER BY seq"),
        ["early", "late", "new"]
    );
    // Schema 7: no index on ids; `executions_ids` by sequence number instead (schema 10 adds
    // those of search).
    assert_eq!(
        strings("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'executions' ORDER BY name"),
        [
            "executions_agent",
            "executions_created",
            "executions_env",
            "executions_ids",
            "executions_session",
            "executions_status",
            "executions_updated",
            "executions_user"
        ]
    );
}

#[test]
fn an_execution_written_again_keeps_its_sequence_and_takes_the_new_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = Connection::open(dir.path().join("observatory.db")).unwrap();
    migrate(&mut conn).unwrap();
    let batch = |status, logs: std::ops::RangeInclusive<u64>| {
        Box::new(
            Encoded::new(WriteBatch {
                executions: vec![exec("e1", status, 10), exec("e2", ExecutionStatus::Running, 11)],
                logs: logs.map(|s| log("e1", s)).collect(),
                ..Default::default()
            })
            .unwrap(),
        )
    };
    let ids = Directory::default();
    write(&mut conn, &[batch(ExecutionStatus::Running, 1..=2)], &ids).unwrap();
    // Two batches of one group, each with e1: written once each, in order.
    write(
        &mut conn,
        &[
            batch(ExecutionStatus::Running, 3..=3),
            batch(ExecutionStatus::Completed, 4..=5),
        ],
        &ids,
    )
    .unwrap();
    let rows: Vec<(i64, String, String)> = conn
        .prepare("SELECT seq, id, status FROM executions ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![(1, "e1".into(), "COMPLETED".into()), (2, "e2".into(), "RUNNING".into())]
    );
    let logs: Vec<(i64, i64)> = conn
        .prepare("SELECT exec_seq, seq FROM logs ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(logs, (1..=5).map(|s| (1, s)).collect::<Vec<_>>());
}

#[tokio::test]
async fn commits_reach_the_database_file_without_waiting_for_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    let db = dir.path().join("observatory.db");
    let before = std::fs::metadata(&db).unwrap().len();
    store
        .commit(WriteBatch {
            executions: vec![exec("e1", ExecutionStatus::Running, 10)],
            logs: (1..=2_000).map(|s| log("e1", s)).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    // The WAL is far below the writer's own checkpoint threshold: only the background
    // checkpointer copies these pages into the database file.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&db).unwrap().len() <= before {
        assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
}

#[tokio::test]
async fn a_row_that_does_not_decode_is_skipped_and_counted_at_start_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path(), 60).unwrap();
        let agent = |id: &str, cost_usd| crate::model::Agent {
            id: id.into(),
            cost_usd,
            ..Default::default()
        };
        // An infinite total is written as JSON `null`, which no f64 reads back.
        let batch = WriteBatch {
            agents: vec![agent("overflowed", f64::INFINITY), agent("fine", 1.5)],
            executions: vec![exec("e1", ExecutionStatus::Running, 10)],
            ..Default::default()
        };
        store.commit(batch).await.unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    let snap = store
        .snapshot(0, Vec::new())
        .await
        .expect("the store opens with a bad row");
    assert_eq!(snap.agents.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["fine"]);
    assert_eq!(snap.executions.len(), 1);
    assert_eq!(snap.skipped, 1, "the bad row is reported");
    store.close().await;
}

#[tokio::test]
async fn retention_leaves_nothing_of_an_execution_in_the_search_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), 60).unwrap();
    let mut span = crate::model::Span {
        trace_id: "old".into(),
        span_id: "s".into(),
        execution_id: "old".into(),
        name: "chat gpt-4o".into(),
        model: Some("gpt-4o".into()),
        ..Default::default()
    };
    span.attributes
        .insert("gen_ai.request.model".into(), serde_json::json!("gpt-4o"));
    let mut kept = log("new", 1);
    kept.message = "kept words".into();
    store
        .commit(WriteBatch {
            executions: vec![
                exec("old", ExecutionStatus::Completed, 10),
                exec("new", ExecutionStatus::Running, 10),
            ],
            spans: vec![span],
            logs: vec![log("old", 1), kept],
            ..Default::default()
        })
        .await
        .unwrap();
    store.retain(100, None).await.unwrap();
    store.close().await;
    let c = Connection::open(dir.path().join("observatory.db")).unwrap();
    let count = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    // Only the running execution's document and words are left.
    let model = crate::format::hex(b"model=gpt-4o");
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM search_text WHERE search_text MATCH 'terms : {model}'"
        )),
        0
    );
    assert_eq!(count("SELECT COUNT(*) FROM search_docs"), 1);
    assert_eq!(
        count("SELECT COUNT(*) FROM search_text WHERE search_text MATCH 'gpt'"),
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM search_text WHERE search_text MATCH 'kept'"),
        1
    );
}
