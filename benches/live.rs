//! Live-path figures: how fast a log line reaches a watching WebSocket client after its
//! ingest is acknowledged, and ingest throughput with no watcher, a reading watcher and a
//! watcher that never reads.
//!
//! Run: `cargo bench --bench live --features ssr` (prints its figures; asserts nothing).

use futures::{SinkExt, StreamExt};
use observatory::model::{Event, LogEvent};
mod common;

use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn lines(execution: &str, from: usize, n: usize) -> Vec<Event> {
    (from..from + n)
        .map(|i| {
            Event::Log(LogEvent {
                execution_id: execution.into(),
                message: format!("line {i} {}", "x".repeat(100)),
                ..Default::default()
            })
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let common::Bench {
        state, addr, collector, ..
    } = common::start().await;

    // 1. Latency: one line at a time, from the moment it is sent to the moment the client has it.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws.send(Message::Text(r#"{"type":"subscribe","executionId":"lat"}"#.into()))
        .await
        .unwrap();
    while let Some(Ok(m)) = ws.next().await {
        if m.to_text().unwrap_or("").contains("\"subscribed\"") {
            break;
        }
    }
    let mut latencies = Vec::new();
    for i in 0..1000 {
        let sent = Instant::now();
        collector.send(lines("lat", i, 1)).await.unwrap();
        loop {
            let m = ws.next().await.unwrap().unwrap();
            if m.to_text().unwrap_or("").contains("\"type\":\"log\"") {
                break;
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "log line, ingest call to client receipt (1000 lines, one at a time): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        common::percentile(&latencies, 0.5),
        common::percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
    drop(ws);

    // 2. Throughput in 1000-line batches.
    async fn rate(c: &observatory::Collector, exec: &str, n: usize) -> f64 {
        let started = Instant::now();
        for chunk in (0..n).step_by(1000) {
            c.send(lines(exec, chunk, 1000)).await.unwrap();
        }
        n as f64 / started.elapsed().as_secs_f64()
    }
    println!(
        "ingest, nobody watching: {:.0} lines/s",
        rate(&collector, "alone", 100_000).await
    );

    let (mut reader, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    reader
        .send(Message::Text(r#"{"type":"subscribe","executionId":"read"}"#.into()))
        .await
        .unwrap();
    let drained = tokio::spawn(async move {
        let mut n = 0u64;
        while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(3), reader.next()).await {
            n += 1;
        }
        n
    });
    println!(
        "ingest, one client reading every line: {:.0} lines/s",
        rate(&collector, "read", 100_000).await
    );
    println!("  the reader received {} messages", drained.await.unwrap());

    let (mut stuck, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    stuck
        .send(Message::Text(r#"{"type":"subscribe","executionId":"stuck"}"#.into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "ingest, one client that never reads: {:.0} lines/s",
        rate(&collector, "stuck", 100_000).await
    );
    let rss = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = rss
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("VmRSS: ?")
        .to_string();
    println!(
        "  resyncs {}, connections now {}, {rss}",
        state.live.resyncs(),
        state.live.connections()
    );
    drop(stuck);
}
