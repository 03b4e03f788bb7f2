//! Search over a large store: fills a store with agent runs (10 spans each: an agent root,
//! four model calls with prompts, four tool calls, a retrieval; a log line; sessions, users,
//! environments, costs), through the store's own commit path so the index is built as ingest
//! builds it, then times typical queries of the search language (each as the executions
//! list asks it: a page of 50 and the total) and prints p50/p99 per kind, the index's size
//! per span and the fill rate.
//!
//! Run: `cargo bench --bench search --features ssr` (prints its figures; asserts nothing).
//! `SEARCH_BENCH_EXECUTIONS` (default 1,000,000: 10 M spans, about 8 minutes on 2 cores)
//! sizes the store; `SEARCH_BENCH_STORE=postgres://…` runs it on PostgreSQL (in a schema of
//! its own, dropped afterwards); `SEARCH_BENCH_DIR=path` keeps the embedded store there to
//! query it again later.

mod common;

use observatory::model::{Execution, ExecutionStatus, LogLevel, LogRecord, Span, SpanCategory, SpanStatus};
use observatory::server::store::postgres::scratch::ScratchSchema;
use observatory::server::store::{ExecutionQuery, PgStore, SqliteStore, Store, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const AGENTS: usize = 20;
const MODELS: [&str; 6] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4",
    "gemini-2.5-flash",
    "o4-mini",
    "llama-3.1-70b",
];
const TOOLS: [&str; 8] = ["search", "browse", "sql", "python", "calendar", "email", "crm", "files"];
const PER_COMMIT: usize = 500;
/// Words of the prompts: a vocabulary with a long tail, so some words are rare.
const VOCABULARY: usize = 20_000;

fn word(rng: &mut StdRng) -> String {
    // Zipf-like: small numbers are common, large ones rare.
    let r: f64 = rng.random();
    format!("w{}", (VOCABULARY as f64 * r * r * r) as usize)
}

fn prompt(rng: &mut StdRng, words: usize) -> String {
    (0..words).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

/// Runs `from..to`, created a second apart, ending now.
fn batch(from: usize, to: usize, total: usize, rng: &mut StdRng) -> WriteBatch {
    let now = observatory::server::clock::now_ms();
    let mut b = WriteBatch::default();
    for i in from..to {
        let id = format!("{:032x}", rng.random::<u128>());
        let created = now - ((total - i) as i64) * 1000;
        let failed = rng.random_range(0..100) < 5;
        let agent = format!("agent-{:02}", rng.random_range(0..AGENTS));
        let mut tokens = 0u64;
        let mut cost = 0.0;
        let start_ns = created as u64 * 1_000_000;
        let span = |n: u64, name: String, category: SpanCategory| {
            let mut s = Span {
                trace_id: id.clone(),
                span_id: format!("{:016x}", (i as u64) << 8 | n),
                parent_span_id: (n > 0).then(|| format!("{:016x}", (i as u64) << 8)),
                execution_id: id.clone(),
                name,
                category,
                span_kind: "internal".into(),
                start_unix_nano: start_ns + n * 1_000_000,
                end_unix_nano: start_ns + n * 1_000_000 + 800_000,
                ..Default::default()
            };
            s.set_ms();
            s
        };
        let mut root = span(0, format!("invoke_agent {agent}"), SpanCategory::Agent);
        root.attributes.insert("gen_ai.agent.name".into(), json!(agent));
        root.attributes
            .insert("gen_ai.operation.name".into(), json!("invoke_agent"));
        b.spans.push(root);
        for n in 1..=4u64 {
            let model = MODELS[rng.random_range(0..MODELS.len())];
            let (tin, tout) = (rng.random_range(200..4000u64), rng.random_range(20..800u64));
            tokens += tin + tout;
            cost += (tin + 4 * tout) as f64 * 2.5e-6;
            let mut s = span(n, format!("chat {model}"), SpanCategory::Llm);
            s.model = Some(model.into());
            s.provider = Some("openai".into());
            s.tokens_in = Some(tin);
            s.tokens_out = Some(tout);
            for (k, v) in [
                ("gen_ai.operation.name", json!("chat")),
                ("gen_ai.request.model", json!(model)),
                ("gen_ai.request.temperature", json!(0.2)),
                ("gen_ai.usage.input_tokens", json!(tin)),
                ("gen_ai.usage.output_tokens", json!(tout)),
                (
                    "gen_ai.response.id",
                    json!(format!("chatcmpl-{:x}", rng.random::<u64>())),
                ),
                ("gen_ai.input.messages", json!(prompt(rng, 30))),
                ("gen_ai.output.messages", json!(prompt(rng, 15))),
            ] {
                s.attributes.insert(k.into(), v);
            }
            b.spans.push(s);
        }
        for n in 5..=8u64 {
            let tool = TOOLS[rng.random_range(0..TOOLS.len())];
            let mut s = span(n, format!("execute_tool {tool}"), SpanCategory::Tool);
            s.tool_name = Some(tool.into());
            s.attributes.insert("gen_ai.tool.name".into(), json!(tool));
            s.attributes.insert(
                "gen_ai.tool.call.arguments".into(),
                json!(format!("{{\"q\":\"{}\"}}", prompt(rng, 4))),
            );
            if failed && n == 8 {
                s.status = SpanStatus::Error;
                s.attributes.insert("error.type".into(), json!("TimeoutError"));
            }
            b.spans.push(s);
        }
        let mut retrieval = span(9, "retrieval docs".into(), SpanCategory::Other);
        retrieval.attributes.insert("db.system".into(), json!("qdrant"));
        b.spans.push(retrieval);
        b.logs.push(LogRecord {
            execution_id: id.clone(),
            seq: 1,
            timestamp: created,
            level: if failed { LogLevel::Error } else { LogLevel::Info },
            message: format!("step done: {}", prompt(rng, 8)),
            attributes: Default::default(),
            trace_id: None,
            span_id: None,
        });
        let user = rng.random_range(0..5_000);
        b.executions.push(Execution {
            id: id.clone(),
            agent_id: agent,
            status: if failed {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Completed
            },
            created_at: created,
            started_at: Some(created),
            ended_at: Some(created + 9),
            duration_ms: Some(rng.random_range(500..120_000)),
            input: Some(prompt(rng, 12)),
            error: failed.then(|| "TimeoutError: tool search took too long".into()),
            tokens_in: tokens * 4 / 5,
            tokens_out: tokens / 5,
            cost_usd: cost,
            trace_id: Some(id.clone()),
            log_count: 1,
            llm_calls: 4,
            tool_calls: 4,
            updated_at: created + 9,
            session_id: Some(format!("s-{user}-{}", rng.random_range(0..10))),
            user_id: Some(format!("u-{user}")),
            environment: Some(["production", "staging", "dev"][rng.random_range(0..3usize).min(2)].into()),
            ..Default::default()
        });
    }
    b
}

async fn fill(store: &Arc<dyn Store>, total: usize) {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let mut pending = std::collections::VecDeque::new();
    let mut i = 0;
    while i < total {
        let to = (i + PER_COMMIT).min(total);
        let b = batch(i, to, total, &mut rng);
        pending.push_back(tokio::spawn(store.commit(b)));
        if pending.len() >= 4 {
            pending.pop_front().unwrap().await.unwrap().unwrap();
        }
        i = to;
        if i % 100_000 == 0 {
            let s = started.elapsed().as_secs_f64();
            println!(
                "  {i} executions ({} spans) in {s:.0} s: {:.0} spans/s",
                i * 10,
                (i * 10) as f64 / s
            );
        }
    }
    for p in pending {
        p.await.unwrap().unwrap();
    }
    let s = started.elapsed().as_secs_f64();
    println!(
        "filled {total} executions, {} spans, in {s:.0} s: {:.0} spans/s through Store::commit (spans encoded, indexed, written)",
        total * 10,
        (total * 10) as f64 / s
    );
}

async fn time(store: &Arc<dyn Store>, label: &str, queries: Vec<String>) {
    let mut ms = Vec::new();
    let mut totals = Vec::new();
    for q in &queries {
        let filter = observatory::search::parse(q).unwrap();
        let t = Instant::now();
        // As the executions list and the API ask it: a page, and matches counted up to
        // MAX_COUNT (then "10,000+").
        let (_, total) = store
            .executions(ExecutionQuery {
                filter,
                limit: 50,
                count_up_to: Some(observatory::model::MAX_COUNT + 1),
                ..Default::default()
            })
            .await
            .unwrap();
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        totals.push(total);
    }
    ms.sort_by(f64::total_cmp);
    totals.sort();
    println!(
        "{label:<40} p50 {:>7.1} ms  p99 {:>7.1} ms  (matches, counted to 10,001: median {}, e.g. `{}`)",
        common::percentile(&ms, 0.5),
        common::percentile(&ms, 0.99),
        totals[totals.len() / 2],
        queries[0]
    );
}

#[tokio::main]
async fn main() {
    let total: usize = std::env::var("SEARCH_BENCH_EXECUTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    // `SEARCH_BENCH_DIR=path` keeps the embedded store there, and a store already there is
    // queried again without filling.
    let kept = std::env::var("SEARCH_BENCH_DIR").ok().map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let filled = dir.join("observatory.db").exists();
    let schema = match std::env::var("SEARCH_BENCH_STORE") {
        Ok(url) => Some(
            ScratchSchema::create(&url)
                .await
                .expect("SEARCH_BENCH_STORE: a PostgreSQL server"),
        ),
        Err(_) => None,
    };
    let store: Arc<dyn Store> = match &schema {
        Some(s) => Arc::new(
            PgStore::connect(
                s.config(),
                3650,
                observatory::server::store::postgres::schema::MIGRATIONS.len(),
            )
            .await
            .unwrap(),
        ),
        None => Arc::new(SqliteStore::open(&dir, 3650).unwrap()),
    };
    if filled && schema.is_none() {
        println!("querying the store kept in {}", dir.display());
    } else {
        println!("filling a store of {total} executions (10 spans and a log line each)…");
        fill(&store, total).await;
    }

    let mut rng = StdRng::seed_from_u64(11);
    let n = 40;
    let pick = |rng: &mut StdRng, f: &dyn Fn(&mut StdRng) -> String| (0..n).map(|_| f(rng)).collect::<Vec<_>>();
    time(
        &store,
        "agent + status",
        pick(&mut rng, &|r| {
            format!("agent:agent-{:02} status:failed", r.random_range(0..AGENTS))
        }),
    )
    .await;
    time(
        &store,
        "cost threshold",
        pick(&mut rng, &|r| format!("cost>{:.3}", r.random_range(0.02..0.06))),
    )
    .await;
    time(
        &store,
        "attribute equality",
        pick(&mut rng, &|r| {
            format!(
                "attr.gen_ai.request.model=\"{}\"",
                MODELS[r.random_range(0..MODELS.len())]
            )
        }),
    )
    .await;
    time(
        &store,
        "attribute equality, narrowed by agent",
        pick(&mut rng, &|r| {
            format!("agent:agent-{:02} attr.gen_ai.tool.name=sql", r.random_range(0..AGENTS))
        }),
    )
    .await;
    time(
        &store,
        "free text, a rare word",
        pick(&mut rng, &|r| format!("w{}", r.random_range(15_000..VOCABULARY))),
    )
    .await;
    time(
        &store,
        "free text, a common word",
        pick(&mut rng, &|r| format!("w{}", r.random_range(0..20))),
    )
    .await;
    time(
        &store,
        "session",
        pick(&mut rng, &|r| {
            format!("session:s-{}-{}", r.random_range(0..5_000), r.random_range(0..10))
        }),
    )
    .await;
    time(
        &store,
        "user + environment + since",
        pick(&mut rng, &|r| {
            format!("user:u-{} env:production since:7d", r.random_range(0..5_000))
        }),
    )
    .await;
    time(
        &store,
        "error type and model",
        pick(&mut rng, &|r| {
            format!("error:TimeoutError model:{}", MODELS[r.random_range(0..MODELS.len())])
        }),
    )
    .await;

    if schema.is_none() {
        let c = rusqlite::Connection::open(dir.join("observatory.db")).unwrap();
        let sizes: Vec<(String, i64)> = c
            .prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let all: i64 = sizes.iter().map(|s| s.1).sum();
        let index: i64 = sizes
            .iter()
            .filter(|(n, _)| {
                n.starts_with("search_")
                    || n.starts_with("executions_session")
                    || n.starts_with("executions_user")
                    || n.starts_with("executions_env")
            })
            .map(|s| s.1)
            .sum();
        let spans = (total * 10) as f64;
        println!(
            "store: {:.0} MiB, {:.0} bytes per span in all",
            all as f64 / 1048576.0,
            all as f64 / spans
        );
        println!(
            "search index: {:.0} MiB, {:.0} bytes per span ({:.0} % of the store)",
            index as f64 / 1048576.0,
            index as f64 / spans,
            index as f64 * 100.0 / all as f64
        );
        for (name, bytes) in sizes.iter().take(12) {
            println!("  {name:<32} {:>8.1} MiB", *bytes as f64 / 1048576.0);
        }
    }
    store.close().await;
}
