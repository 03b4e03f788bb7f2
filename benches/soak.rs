//! Soak: the release binary with `--demo` under sustained OTLP load (agent traces of six spans,
//! each with two log records), RSS sampled every 30 s. A plateau is what should be seen: the
//! live set, the roll-ups and the queues are bounded, so memory stops growing once they fill.
//!
//! Run: `cargo bench --bench soak --features ssr` after `scripts/build.sh` (prints its figures;
//! asserts nothing). `SOAK_MINUTES` (default 30), `SOAK_TRACES_PER_SECOND` (default 200),
//! `OBSERVATORY_BIN` (default `target/server/observatory`).

mod common;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// One agent run: a root `invoke_agent`, three `chat` and two `execute_tool` spans, and two
/// log records; a new agent id every 50 traces, as frameworks that name agents per run do.
fn trace(n: u64, now_ns: u64) -> (Value, Value) {
    let trace_id = format!("{:032x}", (n as u128) << 64 | 0xa11ce);
    let agent = format!("soak-agent-{}", n / 50);
    let span = |i: u64, name: &str, op: &str, extra: Vec<Value>| {
        let mut attrs = vec![
            json!({"key": "gen_ai.operation.name", "value": {"stringValue": op}}),
            json!({"key": "gen_ai.agent.id", "value": {"stringValue": agent}}),
        ];
        attrs.extend(extra);
        let mut s = json!({"traceId": trace_id, "spanId": format!("{:016x}", i + 1), "name": name, "kind": 1,
                           "startTimeUnixNano": (now_ns + i * 1_000_000).to_string(),
                           "endTimeUnixNano": (now_ns + (i + 1) * 10_000_000).to_string(), "attributes": attrs});
        if i > 0 {
            s["parentSpanId"] = json!(format!("{:016x}", 1));
        }
        s
    };
    let chat = |i| {
        span(
            i,
            "chat gpt-4o",
            "chat",
            vec![
                json!({"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}),
                json!({"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}}),
                json!({"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}}),
                json!({"key": "gen_ai.usage.output_tokens", "value": {"intValue": "300"}}),
            ],
        )
    };
    let tool = |i| {
        span(
            i,
            "execute_tool search",
            "execute_tool",
            vec![json!({"key": "gen_ai.tool.name", "value": {"stringValue": "search"}})],
        )
    };
    let spans = vec![
        span(0, "invoke_agent soak", "invoke_agent", vec![]),
        chat(1),
        tool(2),
        chat(3),
        tool(4),
        chat(5),
    ];
    let resource = json!({"attributes": [{"key": "service.name", "value": {"stringValue": "soak"}}]});
    let traces = json!({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]});
    let records: Vec<Value> = (0..2)
        .map(|i| json!({"timeUnixNano": (now_ns + i).to_string(), "severityNumber": 9, "body": {"stringValue": format!("step {i} of run {n}")},
                        "traceId": trace_id, "spanId": format!("{:016x}", 1)}))
        .collect();
    let logs = json!({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]});
    (traces, logs)
}

#[tokio::main]
async fn main() {
    let minutes: u64 = env("SOAK_MINUTES", 30);
    let per_second: u64 = env("SOAK_TRACES_PER_SECOND", 200);
    let bin = std::env::var("OBSERVATORY_BIN").unwrap_or_else(|_| "target/server/observatory".into());
    let server = common::Process::start(&bin, &["--demo"]).await;
    let base = server.base.clone();
    let client = reqwest::Client::new();
    let (sent, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let started = Instant::now();
    let end = started + Duration::from_secs(minutes * 60);
    let producer = {
        let (client, base, sent, refused) = (client.clone(), base.clone(), sent.clone(), refused.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut n = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                let now_ns = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64;
                for _ in 0..per_second / 10 {
                    let (traces, logs) = trace(n, now_ns);
                    n += 1;
                    for (path, body) in [("/v1/traces", traces), ("/v1/logs", logs)] {
                        match client.post(format!("{base}{path}")).json(&body).send().await {
                            Ok(r) if r.status().is_success() => {}
                            _ => {
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    println!("soak: {minutes} min, {per_second} traces/s (6 spans, 2 log records each), demo on");
    println!("{:>6} {:>10} {:>10} {:>9}", "min", "traces", "rss MiB", "refused");
    let mut samples = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(30).min(end.saturating_duration_since(Instant::now()))).await;
        let rss = rss_mib(server.child.id());
        samples.push(rss);
        println!(
            "{:>6.1} {:>10} {:>10.1} {:>9}",
            started.elapsed().as_secs_f64() / 60.0,
            sent.load(Ordering::Relaxed),
            rss,
            refused.load(Ordering::Relaxed)
        );
    }
    producer.await.unwrap();
    let half = samples.len() / 2;
    let max = |s: &[f64]| s.iter().cloned().fold(0.0, f64::max);
    println!(
        "soak: rss max {:.1} MiB in the first half, {:.1} MiB in the second half ({:+.1} %)",
        max(&samples[..half]),
        max(&samples[half..]),
        (max(&samples[half..]) / max(&samples[..half]).max(1.0) - 1.0) * 100.0
    );
    drop(server);
}
