//! The fleet on the real PostgreSQL and NATS JetStream: the `observatory` binary as one, then
//! two processes (`--store postgres://… --bus nats://…`), fed OTLP/HTTP protobuf batches of
//! 512 agent spans split evenly across the instances. Prints, for each size:
//! - spans/s acknowledged (stored in JetStream) and persisted (written by the leader and
//!   queryable: the store's stream position caught up, spans counted in PostgreSQL);
//! - p50/p99 latency per batch;
//! - CPU per 10k spans of each instance, of PostgreSQL (all its processes) and of NATS.
//!
//! And, with two instances, the ingest-to-socket latency across instances: a log line posted
//! to A, timed until B's WebSocket pushes it to a subscriber of its execution.
//!
//! Run: `cargo bench --bench fleet --features ssr` (prints its figures; asserts nothing).
//! `FLEET_BENCH_BATCHES` (default 400), `FLEET_BENCH_STORE` (default
//! postgres://postgres@127.0.0.1:5432/test; a schema of its own, dropped afterwards) and
//! `FLEET_BENCH_BUS` (default nats://127.0.0.1:4222; a stream of its own, deleted afterwards).

mod common;

use common::otlp::{batches, run, SPANS_PER_BATCH};
use common::{cpu_ms, pids_of, Process};
use futures::{SinkExt, StreamExt};
use observatory::server::bus::scratch::ScratchStream;
use observatory::server::store::postgres::scratch::ScratchSchema;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const CONCURRENCY: usize = 8;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

async fn bus_check(base: &str) -> Value {
    let ready: Value = reqwest::get(format!("{base}/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["checks"]["bus"]["details"].clone()
}

/// Waits until one instance leads.
async fn leader(fleet: &[Process]) {
    for _ in 0..200 {
        for i in fleet {
            if bus_check(&i.base).await["role"] == "leader" {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no instance took the lead");
}

async fn throughput(n: usize, count: usize, store_url: &str, bus: &str) {
    let schema = ScratchSchema::create(store_url)
        .await
        .expect("FLEET_BENCH_STORE: a PostgreSQL server");
    let stream = ScratchStream::on(bus);
    let store = schema.url();
    let flags = [
        "--store",
        &store,
        "--bus",
        stream.server(),
        "--bus-stream",
        stream.name(),
        "--ws-interval",
        "250ms",
    ];
    let mut fleet = Vec::new();
    for _ in 0..n {
        fleet.push(Process::start(env!("CARGO_BIN_EXE_observatory"), &flags).await);
    }
    leader(&fleet).await;
    let warmup = Arc::new(batches(20));
    run(&format!("{}/v1/traces", fleet[0].base), warmup, CONCURRENCY).await;
    // Each instance gets its share of the batches, with its share of the requests in flight.
    let all = batches(count + 20).split_off(20);
    let mut shares: Vec<Vec<Vec<u8>>> = vec![Vec::new(); n];
    for (i, b) in all.into_iter().enumerate() {
        shares[i % n].push(b);
    }
    let pids: Vec<u32> = fleet.iter().map(|i| i.child.id()).collect();
    let (pg, nats) = (pids_of("postgres"), pids_of("nats-server"));
    let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_ms(&[*p])).collect();
    let (pg_before, nats_before) = (cpu_ms(&pg), cpu_ms(&nats));

    let started = Instant::now();
    let senders: Vec<_> = shares
        .into_iter()
        .zip(&fleet)
        .map(|(share, i)| {
            let url = format!("{}/v1/traces", i.base);
            tokio::spawn(async move { run(&url, Arc::new(share), CONCURRENCY / n).await })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut refused = 0;
    for s in senders {
        let (_, l, r) = s.await.unwrap();
        latencies.extend(l);
        refused += r;
    }
    let acked = started.elapsed();
    // Persisted: the store's stream position reaches the stream's end.
    loop {
        let c = bus_check(&fleet[0].base).await;
        if c["storeWritten"] == c["streamLast"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let persisted = started.elapsed();
    let cpu: Vec<f64> = pids.iter().zip(&cpu_before).map(|(p, b)| cpu_ms(&[*p]) - b).collect();
    let (pg_cpu, nats_cpu) = (cpu_ms(&pg) - pg_before, cpu_ms(&nats) - nats_before);
    let rows: i64 = schema
        .client()
        .await
        .query_one("SELECT COUNT(*) FROM spans", &[])
        .await
        .unwrap()
        .get(0);
    let spans = count * SPANS_PER_BATCH;
    latencies.sort_by(f64::total_cmp);
    println!(
        "— {n} instance(s), {count} batches of {SPANS_PER_BATCH} spans, {CONCURRENCY} requests in flight in all —"
    );
    println!(
        "acknowledged (in JetStream): {:.0} spans/s; persisted and queryable: {:.0} spans/s ({rows} spans stored, {} of this run; {refused} answers of 503 retried)",
        spans as f64 / acked.as_secs_f64(),
        spans as f64 / persisted.as_secs_f64(),
        rows as usize - 20 * SPANS_PER_BATCH,
    );
    println!(
        "latency per batch until acknowledged: p50 {:.1} ms, p99 {:.1} ms",
        common::percentile(&latencies, 0.5),
        common::percentile(&latencies, 0.99)
    );
    let per10k = |ms: f64| ms / spans as f64 * 10_000.0;
    for (i, c) in cpu.iter().enumerate() {
        let role = bus_check(&fleet[i].base).await["role"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        println!("CPU of instance {} ({role}): {:.0} ms per 10k spans", i + 1, per10k(*c));
    }
    println!(
        "CPU of PostgreSQL: {:.0} ms per 10k spans; of NATS: {:.0} ms per 10k spans",
        per10k(pg_cpu),
        per10k(nats_cpu)
    );
    if n == 2 {
        cross_instance(&fleet[0].base, &fleet[1].base).await;
    }
    drop(fleet);
}

/// A log line posted to A, until B's socket pushes it.
async fn cross_instance(a: &str, b: &str) {
    let ws_url = b.replacen("http", "ws", 1) + "/ws";
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "subscribe", "executionId": "latency"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let post = |events: Value| client.post(format!("{a}/api/v1/events")).json(&events).send();
    post(json!([{"type": "execution", "id": "latency", "agent_id": "bench", "status": "RUNNING"}]))
        .await
        .unwrap();
    let t0 = Instant::now();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < 300 {
            let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await else {
                break;
            };
            let m: Value = serde_json::from_str(t.as_str()).unwrap();
            if m["type"] == "log" {
                let sent: f64 = m["data"]["log"].as_str().unwrap().parse().unwrap();
                seen.push(t0.elapsed().as_secs_f64() * 1000.0 - sent);
            }
        }
        seen
    });
    for _ in 0..300 {
        let sent = t0.elapsed().as_secs_f64() * 1000.0;
        post(json!([{"type": "log", "execution_id": "latency", "message": format!("{sent}")}]))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut seen = reader.await.unwrap();
    seen.sort_by(f64::total_cmp);
    println!(
        "ingest at A to B's WebSocket: {} of 300 lines, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        seen.len(),
        common::percentile(&seen, 0.5),
        common::percentile(&seen, 0.99),
        seen.last().unwrap()
    );
}

#[tokio::main]
async fn main() {
    let count: usize = env_or("FLEET_BENCH_BATCHES", "400").parse().unwrap();
    let store = env_or("FLEET_BENCH_STORE", "postgres://postgres@127.0.0.1:5432/test");
    let bus = env_or("FLEET_BENCH_BUS", "nats://127.0.0.1:4222");
    for n in [1, 2] {
        throughput(n, count, &store, &bus).await;
    }
}
