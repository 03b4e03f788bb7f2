//! The search language over a store: the same answers from every backend.

use super::{exec, Backend};
use crate::model::{Execution, ExecutionStatus, LogLevel, LogRecord, Span, SpanCategory, SpanStatus};
use crate::server::store::{ExecutionQuery, Store, WriteBatch};
use serde_json::json;

fn span(execution: &str, id: &str, name: &str) -> Span {
    let mut s = Span {
        trace_id: execution.into(),
        span_id: id.into(),
        execution_id: execution.into(),
        name: name.into(),
        span_kind: "internal".into(),
        start_unix_nano: 1_000_000_000,
        end_unix_nano: 2_000_000_000,
        ..Default::default()
    };
    s.set_ms();
    s
}

/// Three runs: a planner's finished chat with a failed tool, a writer's running one that
/// logs, and a failed one with only an error message.
fn fleet(now: i64) -> WriteBatch {
    let planner = Execution {
        agent_id: "planner".into(),
        session_id: Some("s-1".into()),
        user_id: Some("u-1".into()),
        environment: Some("prod".into()),
        cost_usd: 0.10,
        tokens_in: 1_000,
        tokens_out: 500,
        duration_ms: Some(40_000),
        input: Some("plan a trip to Lisbon".into()),
        ..exec("e1", ExecutionStatus::Completed, 1_000)
    };
    let writer = Execution {
        agent_id: "writer".into(),
        environment: Some("staging".into()),
        cost_usd: 0.01,
        ..exec("e2", ExecutionStatus::Running, now)
    };
    let failed = Execution {
        error: Some("boom: connection refused".into()),
        ..exec("e3", ExecutionStatus::Failed, 500)
    };
    let mut chat = span("e1", "s1", "chat gpt-4o");
    chat.category = SpanCategory::Llm;
    chat.model = Some("gpt-4o".into());
    chat.provider = Some("openai".into());
    chat.attributes.insert("gen_ai.request.model".into(), json!("gpt-4o"));
    chat.attributes.insert("gen_ai.request.temperature".into(), json!(0.5));
    chat.attributes
        .insert("gen_ai.input.messages".into(), json!("the quick brown fox"));
    let mut tool = span("e1", "s2", "execute_tool search");
    tool.category = SpanCategory::Tool;
    tool.tool_name = Some("search".into());
    tool.status = SpanStatus::Error;
    tool.status_message = Some("deadline passed".into());
    tool.attributes.insert("error.type".into(), json!("TimeoutError"));
    // OTLP's spans bring their attributes already encoded.
    tool.attributes_json = Some(r#"{"error.type":"TimeoutError","gen_ai.tool.name":"search"}"#.into());
    tool.attributes.clear();
    let mut browse = span("e2", "s3", "execute_tool browse");
    browse.tool_name = Some("browse".into());
    WriteBatch {
        executions: vec![planner, writer, failed],
        spans: vec![chat, tool, browse],
        logs: vec![LogRecord {
            execution_id: "e2".into(),
            seq: 1,
            timestamp: now,
            level: LogLevel::Warn,
            message: "Rate limit exceeded, backing off".into(),
            attributes: Default::default(),
            trace_id: None,
            span_id: None,
        }],
        ..Default::default()
    }
}

async fn ids(store: &dyn Store, q: &str) -> Vec<String> {
    let query = ExecutionQuery {
        filter: crate::search::parse(q).unwrap(),
        limit: 100,
        ..Default::default()
    };
    let (items, total) = store.executions(query).await.unwrap();
    assert_eq!(total as usize, items.len(), "{q}");
    items.into_iter().map(|x| x.id).collect()
}

pub async fn every_kind_of_term_finds_its_executions(backend: Backend) {
    let store = backend.open().await;
    let now = crate::server::clock::now_ms();
    store.commit(fleet(now)).await.unwrap();
    let cases: &[(&str, &[&str])] = &[
        ("", &["e2", "e1", "e3"]),
        ("agent:planner", &["e1"]),
        ("agent:plan*", &["e1"]),
        ("status:running", &["e2"]),
        ("model:gpt-4o", &["e1"]),
        ("model:gpt-4*", &["e1"]),
        ("model:gpt-4", &[]),
        ("provider:openai", &["e1"]),
        ("tool:search OR tool:browse", &["e2", "e1"]),
        (r#"attr.gen_ai.request.model="gpt-4o""#, &["e1"]),
        ("attr.gen_ai.request.temperature:0.5", &["e1"]),
        ("attr.gen_ai.tool.name:search", &["e1"]),
        ("session:s-1 user:u-1 env:prod", &["e1"]),
        ("env:staging", &["e2"]),
        ("cost>0.05", &["e1"]),
        ("cost<=0.05", &["e2", "e3"]),
        ("tokens>=1.5k", &["e1"]),
        ("duration>30s", &["e1"]),
        ("error:TimeoutError", &["e1"]),
        ("error:Timeout*", &["e1"]),
        ("error:refused", &["e3"]),
        ("error:refu*", &["e3"]),
        ("error:*", &["e1", "e3"]),
        ("tool:*", &["e2", "e1"]),
        ("session:*", &["e1"]),
        ("error:deadline", &["e1"]),
        (r#""rate limit""#, &["e2"]),
        ("rate", &["e2"]),
        (r#""brown fox""#, &["e1"]),
        (r#""fox brown""#, &[]),
        ("lisbon", &["e1"]),
        ("NOT status:failed -agent:writer", &["e1"]),
        ("(tool:browse OR error:refused) NOT env:prod", &["e2", "e3"]),
    ];
    for (q, want) in cases {
        assert_eq!(ids(&*store, q).await, *want, "query {q}");
    }
    // Spans of a later commit add to what an execution is found by.
    let mut late = span("e3", "s4", "execute_tool browse");
    late.tool_name = Some("browse".into());
    store
        .commit(WriteBatch {
            spans: vec![late],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&*store, "tool:browse").await, ["e2", "e3"]);
    store.close().await;
    // And it all survives a restart.
    let store = backend.open().await;
    assert_eq!(ids(&*store, "tool:browse fox OR lisbon").await, ["e1"]);
    assert_eq!(ids(&*store, "tool:browse").await, ["e2", "e3"]);
    store.close().await;
}

pub async fn retention_takes_executions_out_of_the_index(backend: Backend) {
    let store = backend.open().await;
    let now = crate::server::clock::now_ms();
    store.commit(fleet(now)).await.unwrap();
    store.retain(now - 1, None).await.unwrap();
    assert_eq!(ids(&*store, "").await, ["e2"]);
    // A new execution under an old one's id is found by its own facts only.
    store
        .commit(WriteBatch {
            executions: vec![exec("e1", ExecutionStatus::Completed, now)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&*store, "model:gpt-4o").await, Vec::<String>::new());
    assert_eq!(ids(&*store, "fox").await, Vec::<String>::new());
    assert_eq!(ids(&*store, "tool:search").await, Vec::<String>::new());
    store.close().await;
}
