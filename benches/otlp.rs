//! OTLP/HTTP ingest near the ceiling: the `observatory` binary in a process of its own, fed
//! pre-built protobuf bodies of 512 agent spans (per trace one `invoke_agent` root, three
//! `chat` and two `execute_tool` spans with the attributes GenAI instrumentations send), each
//! sent once from a few keep-alive connections of this process, one request in flight on each.
//!
//! Prints, for the server:
//! - spans/s acknowledged (acknowledged means durable: committed to the store);
//! - CPU per span (user + system time of the server's process over the run);
//! - latency per batch until acknowledged, p50 / p99;
//! - peak RSS of the server's process (at start, and over the whole run);
//! - bytes per span stored (the SQLite files with their WAL, or the PostgreSQL tables and
//!   indexes of the run's schema);
//!
//! beside the rate of a server that only decodes the same bodies with prost (a process of its
//! own on one thread, same client, same run), and the server's share of it. Afterwards it reads
//! a sample of the acknowledged traces back over the API and checks them span by span against
//! what was sent (ids, names, times, every attribute); a mismatch fails the bench.
//!
//! Run: `cargo bench --bench otlp --features ssr` (on a machine with nothing else running).
//! `OTLP_BENCH_BATCHES` (default 2000), `OTLP_BENCH_CONNECTIONS` (default 2);
//! `OTLP_BENCH_STORE=postgres://USER@HOST:PORT/DB` runs the server on PostgreSQL instead (in a
//! schema of its own, dropped afterwards). Trace ids are random, as SDKs make them.

mod common;

use common::otlp::{batches, run, SPANS_PER_BATCH};
use common::{cpu_ms, peak_rss_kib, percentile, Process};
use observatory::server::store::postgres::scratch::ScratchSchema;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use prost::Message;
use serde_json::Value;
use std::sync::Arc;

/// Set in the child this bench starts as its decode-only server.
const DECODE_ONLY: &str = "OTLP_BENCH_DECODE_ONLY";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::var_os(DECODE_ONLY).is_some() {
        return decode_only();
    }
    tokio::runtime::Runtime::new().unwrap().block_on(bench());
}

/// An HTTP server on one thread that decodes each body with prost, counts its spans and
/// answers an empty export response: the floor of what serving OTLP/HTTP costs.
fn decode_only() {
    use axum::{body::Bytes, http::StatusCode, routing::post, Router};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = Router::new().route(
            "/v1/traces",
            post(|body: Bytes| async move {
                let req = ExportTraceServiceRequest::decode(body).map_err(|_| StatusCode::BAD_REQUEST)?;
                let spans: usize = req
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                std::hint::black_box(spans);
                Ok::<_, StatusCode>(([("content-type", "application/x-protobuf")], Vec::<u8>::new()))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        axum::serve(listener, app).await.unwrap();
    });
}

/// Spans per second of the decode-only server over `bodies`.
async fn decode_only_rate(bodies: Arc<Vec<Vec<u8>>>, connections: usize) -> f64 {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(DECODE_ONLY, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut addr = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut addr)
        .unwrap();
    let url = format!("http://{}/v1/traces", addr.trim());
    let spans = bodies.len() * SPANS_PER_BATCH;
    let (elapsed, _, _) = run(&url, bodies, connections).await;
    let _ = child.kill();
    let _ = child.wait();
    spans as f64 / elapsed.as_secs_f64()
}

async fn bench() {
    let count = env_or("OTLP_BENCH_BATCHES", 2000);
    let connections = env_or("OTLP_BENCH_CONNECTIONS", 2);
    let postgres = match std::env::var("OTLP_BENCH_STORE") {
        Ok(url) => Some(
            ScratchSchema::create(&url)
                .await
                .expect("OTLP_BENCH_STORE: a PostgreSQL server"),
        ),
        Err(_) => None,
    };
    let warmup = Arc::new(batches(20));
    let all = Arc::new(batches(count + 20).split_off(20));
    let bytes: usize = all.iter().map(Vec::len).sum();
    let spans = count * SPANS_PER_BATCH;
    println!(
        "{count} bodies of {SPANS_PER_BATCH} spans ({:.1} MiB of protobuf, {:.0} bytes/span), {connections} keep-alive connections, one request in flight on each",
        bytes as f64 / 1048576.0,
        bytes as f64 / spans as f64,
    );

    let floor = decode_only_rate(all.clone(), connections).await;
    println!("decode-only server (prost, one thread, another process): {floor:.0} spans/s");

    let store_flag = postgres.as_ref().map(ScratchSchema::url);
    let args: Vec<&str> = match &store_flag {
        Some(url) => vec!["--store", url],
        None => vec![],
    };
    let server = Process::start(env!("CARGO_BIN_EXE_observatory"), &args).await;
    let pid = server.child.id();
    let rss_at_start = peak_rss_kib(pid);
    let url = format!("{}/v1/traces", server.base);
    run(&url, warmup, connections).await;

    let cpu_before = cpu_ms(&[pid]);
    let (elapsed, latencies, refused) = run(&url, all.clone(), connections).await;
    let cpu = cpu_ms(&[pid]) - cpu_before;
    let rate = spans as f64 / elapsed.as_secs_f64();
    println!(
        "observatory: {rate:.0} spans/s acknowledged ({:.0} % of the decode-only rate; {refused} answers of 503 retried)",
        100.0 * rate / floor
    );
    println!(
        "CPU: {:.1} µs per span ({:.2} cores busy on average)",
        cpu * 1000.0 / spans as f64,
        cpu / 1000.0 / elapsed.as_secs_f64()
    );
    println!(
        "latency per batch until durable: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    println!(
        "peak RSS: {:.0} MiB at start, {:.0} MiB over the run",
        rss_at_start as f64 / 1024.0,
        peak_rss_kib(pid) as f64 / 1024.0
    );

    let stored = match &postgres {
        Some(pg) => pg_bytes(pg).await,
        None => dir_bytes(server.dir.path()),
    };
    let total_spans = spans + 20 * SPANS_PER_BATCH;
    println!(
        "stored: {:.1} MiB, {:.0} bytes per span ({})",
        stored as f64 / 1048576.0,
        stored as f64 / total_spans as f64,
        if postgres.is_some() {
            "PostgreSQL tables, indexes and TOAST"
        } else {
            "SQLite files with the WAL"
        }
    );
    let checked = read_back(&server.base, &all).await;
    println!("read back: {checked} spans of 40 sampled traces, each as sent");
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

async fn pg_bytes(pg: &ScratchSchema) -> u64 {
    let sql = "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')";
    let n: i64 = pg.client().await.query_one(sql, &[]).await.unwrap().get(0);
    n as u64
}

/// Reads 40 traces spread over the run back through `GET /api/executions/{id}/spans` and
/// compares every span with the protobuf sent: ids, parent, name, times, status and every
/// attribute. Panics on the first difference; answers how many spans it compared.
async fn read_back(base: &str, bodies: &[Vec<u8>]) -> usize {
    let client = reqwest::Client::new();
    let mut compared = 0;
    for i in (0..40).map(|k| k * bodies.len() / 40) {
        let req = ExportTraceServiceRequest::decode(&bodies[i][..]).unwrap();
        let sent: Vec<_> = req.resource_spans[0].scope_spans[0].spans.iter().collect();
        // A whole trace of the body (a body may start and end inside one).
        let of_trace = sent
            .iter()
            .filter(|s| s.parent_span_id.is_empty())
            .map(|root| sent.iter().filter(|s| s.trace_id == root.trace_id).collect::<Vec<_>>())
            .find(|spans| spans.len() == 6)
            .expect("a whole trace in the body");
        let trace_id = &of_trace[0].trace_id;
        let id = observatory::format::hex(trace_id);
        let got: Vec<Value> = client
            .get(format!("{base}/api/executions/{id}/spans"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(got.len(), of_trace.len(), "spans of trace {id}");
        for s in of_trace {
            let span_id = observatory::format::hex(&s.span_id);
            let g = got
                .iter()
                .find(|g| g["span_id"] == span_id.as_str())
                .unwrap_or_else(|| panic!("span {span_id} of trace {id} is stored"));
            assert_eq!(g["name"], s.name.as_str(), "name of {span_id}");
            assert_eq!(g["start_unix_nano"], s.start_time_unix_nano, "start of {span_id}");
            assert_eq!(g["end_unix_nano"], s.end_time_unix_nano, "end of {span_id}");
            let parent = (!s.parent_span_id.is_empty()).then(|| observatory::format::hex(&s.parent_span_id));
            assert_eq!(g["parent_span_id"].as_str(), parent.as_deref(), "parent of {span_id}");
            let attrs = g["attributes"].as_object().expect("attributes");
            assert_eq!(attrs.len(), s.attributes.len(), "attributes of {span_id}");
            for kv in &s.attributes {
                let want = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(V::StringValue(t)) => Value::from(t.as_str()),
                    Some(V::IntValue(n)) => Value::from(*n),
                    Some(V::DoubleValue(d)) => Value::from(*d),
                    Some(V::BoolValue(b)) => Value::from(*b),
                    Some(V::ArrayValue(a)) => a
                        .values
                        .iter()
                        .map(|v| match &v.value {
                            Some(V::StringValue(t)) => Value::from(t.as_str()),
                            other => panic!("unexpected array item {other:?}"),
                        })
                        .collect(),
                    other => panic!("unexpected value {other:?}"),
                };
                assert_eq!(attrs.get(&kv.key), Some(&want), "attribute {} of {span_id}", kv.key);
            }
            compared += 1;
        }
    }
    compared
}
