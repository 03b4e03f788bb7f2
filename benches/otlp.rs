//! OTLP/HTTP ingest throughput: replays pre-built protobuf batches of 512 spans of agent traces
//! (per trace one `invoke_agent` root, three `chat` and two `execute_tool` spans with the
//! attributes GenAI instrumentations send) over real HTTP, several requests in flight, and
//! prints spans per second accepted (acknowledged, hence durable) and persisted (rows in the
//! store afterwards), request latency p50/p99 and the peak RSS.
//!
//! Run: `cargo bench --bench otlp --features ssr` (prints its figures; asserts nothing).
//! `OTLP_BENCH_BATCHES` (default 600) and `OTLP_BENCH_CONCURRENCY` (default 8) tune it;
//! `OTLP_BENCH_KEEP_DB=path` keeps a copy of the store (with its WAL) to inspect afterwards.
//! `OTLP_BENCH_STORE=postgres://USER@HOST:PORT/DB` runs it on PostgreSQL instead (in a schema
//! of its own, dropped afterwards).
//! Trace ids are random, as SDKs make them: the store must not depend on keys arriving in
//! order.

mod common;

use observatory::server::store::postgres::scratch::ScratchSchema;
use observatory::server::store::span_chunks;
use std::sync::Arc;
use std::time::Instant;

/// The allocator the server binary ships with (src/main.rs).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::otlp::{batches, peak_rss, run, SPANS_PER_BATCH};

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("OTLP_BENCH_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let concurrency: usize = std::env::var("OTLP_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let postgres = match std::env::var("OTLP_BENCH_STORE") {
        Ok(url) => Some(
            ScratchSchema::create(&url)
                .await
                .expect("OTLP_BENCH_STORE: a PostgreSQL server"),
        ),
        Err(_) => None,
    };
    let common::Bench { addr, dir, state, .. } = common::start_on(postgres.as_ref().map(ScratchSchema::url)).await;

    let built = Instant::now();
    let warmup = Arc::new(batches(20));
    let all = Arc::new(batches(count + 20).split_off(20));
    let bytes: usize = all.iter().map(Vec::len).sum();
    println!(
        "built {count} batches of {SPANS_PER_BATCH} spans ({:.1} MiB of protobuf, {:.0} bytes/span) in {:.1} s",
        bytes as f64 / 1048576.0,
        bytes as f64 / (count * SPANS_PER_BATCH) as f64,
        built.elapsed().as_secs_f64()
    );
    let url = format!("http://{addr}/v1/traces");
    run(&url, warmup, concurrency).await;

    let (elapsed, latencies, refused) = run(&url, all, concurrency).await;
    let spans = count * SPANS_PER_BATCH;
    let secs = elapsed.as_secs_f64();
    println!(
        "accepted: {spans} spans in {secs:.2} s = {:.0} spans/s ({concurrency} requests in flight; {refused} answers of 503 retried)",
        spans as f64 / secs
    );
    println!(
        "request latency (512 spans, until durable): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        common::percentile(&latencies, 0.5),
        common::percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    if let Some(pg) = &postgres {
        // Acknowledged means committed: count the spans the store holds.
        let client = pg.client().await;
        let rows: i64 = client
            .query_one("SELECT COUNT(*) FROM spans", &[])
            .await
            .unwrap()
            .get(0);
        let persisted = rows as usize - 20 * SPANS_PER_BATCH;
        println!(
            "persisted: {persisted} spans of this run on PostgreSQL ({:.0} spans/s over the same interval)",
            persisted as f64 / secs
        );
        let executions: i64 = client
            .query_one("SELECT COUNT(*) FROM executions WHERE status = 'COMPLETED'", &[])
            .await
            .unwrap()
            .get(0);
        let stored = state.store.stats().await.unwrap().size_bytes;
        println!(
            "executions completed: {executions}; peak RSS {} (the client's {:.1} MiB of batches included)",
            peak_rss(),
            bytes as f64 / 1048576.0
        );
        println!(
            "store in PostgreSQL: {:.1} MiB of tables and indexes ({:.0} bytes per span stored)",
            stored as f64 / 1048576.0,
            stored as f64 / rows as f64
        );
        return;
    }
    // Acknowledged means committed: count the spans the store holds.
    let db = rusqlite::Connection::open(dir.path().join("observatory.db")).unwrap();
    let (mut rows, mut chunks) = (0, 0);
    {
        let mut stmt = db.prepare("SELECT spans FROM span_chunks").unwrap();
        let mut stored = stmt.query([]).unwrap();
        while let Some(r) = stored.next().unwrap() {
            rows += span_chunks::decode(r.get_ref(0).unwrap()).unwrap().len();
            chunks += 1;
        }
    }
    let persisted = rows - 20 * SPANS_PER_BATCH;
    println!(
        "persisted: {persisted} spans of this run, in {chunks} chunks ({:.0} spans/s over the same interval)",
        persisted as f64 / secs
    );
    let executions: i64 = db
        .query_row("SELECT COUNT(*) FROM executions WHERE status = 'COMPLETED'", [], |r| {
            r.get(0)
        })
        .unwrap();
    // Client and server share the process: the peak holds the client's batches too.
    println!(
        "executions completed: {executions}; peak RSS {} (the client's {:.1} MiB of batches included)",
        peak_rss(),
        bytes as f64 / 1048576.0
    );
    let file_bytes = |name: &str| std::fs::metadata(dir.path().join(name)).map_or(0, |m| m.len());
    let stored = file_bytes("observatory.db") + file_bytes("observatory.db-wal");
    println!(
        "store on disk: {:.1} MiB with its WAL ({:.0} bytes per span stored)",
        stored as f64 / 1048576.0,
        stored as f64 / rows as f64
    );
    if let Ok(keep) = std::env::var("OTLP_BENCH_KEEP_DB") {
        drop(db);
        std::fs::copy(dir.path().join("observatory.db"), &keep).unwrap();
        let _ = std::fs::copy(dir.path().join("observatory.db-wal"), format!("{keep}-wal"));
    }
}
