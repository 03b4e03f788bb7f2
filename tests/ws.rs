//! The live WebSocket through a real bound port and a real client (tokio-tungstenite),
//! written as MoFA's and AgentNexus's documents tell their users to write clients.

mod common;

use common::{recv, Ws};
use futures::SinkExt;
use observatory::server::{AppState, Config, DashboardServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Server {
    addr: SocketAddr,
    state: AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().into(),
        ws_interval: Duration::from_millis(100),
        otlp_grpc_listen: None,
        ..Config::default()
    };
    let state = AppState::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = DashboardServer::from_state(state.clone());
    tokio::spawn(async move {
        server
            .serve_on(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    Server {
        addr,
        state,
        _stop: stop,
        _dir: dir,
    }
}

async fn connect(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap()
        .0
}

async fn post(addr: SocketAddr, events: Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/events"))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn a_mofa_client_gets_metrics_updates_for_its_topics() {
    let s = server().await;
    let mut ws = connect(s.addr).await;
    ws.send(Message::Text(
        json!({"type": "subscribe", "topics": ["agents", "workflows", "llm"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    post(s.addr, json!([{"type": "agent", "id": "agent-001", "name": "Research Agent"}, {"type": "llm_call", "agent_id": "agent-001", "provider": "OpenAI", "model": "gpt-4", "tokens_in": 10, "tokens_out": 5, "latency_ms": 100.0}])).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no metrics_update");
        let m = recv(&mut ws).await;
        if m["type"] == "metrics_update" && m["payload"]["agents"].is_array() {
            assert_eq!(m["payload"]["agents"][0]["name"], "Research Agent");
            break;
        }
    }
}

#[tokio::test]
async fn an_agentnexus_client_reads_an_executions_logs_as_they_are_written() {
    let s = server().await;
    post(s.addr, json!([{"type": "execution", "id": "exec_123", "agent_id": "a", "status": "RUNNING"}, {"type": "log", "execution_id": "exec_123", "message": "Container started"}])).await;
    let mut ws = connect(s.addr).await;
    ws.send(Message::Text(
        json!({"type": "subscribe", "executionId": "exec_123"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();

    let mut seqs = Vec::new();
    let mut statuses = Vec::new();
    let mut backlog_done = false;
    let writer = {
        let addr = s.addr;
        tokio::spawn(async move {
            for batch in 0..20 {
                let lines: Vec<Value> = (0..50).map(|i| json!({"type": "log", "execution_id": "exec_123", "message": format!("line {}", batch * 50 + i)})).collect();
                post(addr, Value::Array(lines)).await;
            }
            post(addr, json!([{"type": "resource", "execution_id": "exec_123", "cpu_percent": 45.2, "memory_bytes": 134217728u64}, {"type": "status", "execution_id": "exec_123", "status": "COMPLETED", "output": "ok"}])).await;
        })
    };
    let mut metrics = None;
    while !(seqs.len() == 1001 && statuses.contains(&"COMPLETED".to_string()) && metrics.is_some()) {
        let m = recv(&mut ws).await;
        match m["type"].as_str().unwrap() {
            "log" => {
                assert_eq!(m["executionId"], "exec_123");
                assert!(m["data"]["log"].is_string(), "AgentNexus clients read data.log");
                assert!(m["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
                seqs.push(m["data"]["seq"].as_u64().unwrap());
            }
            "status" => statuses.push(m["data"]["status"].as_str().unwrap().to_string()),
            "metrics" => metrics = Some(m["data"].clone()),
            "subscribed" => backlog_done = true,
            other => panic!("unexpected message {other}: {m}"),
        }
    }
    writer.await.unwrap();
    assert!(backlog_done);
    assert_eq!(
        seqs,
        (1..=1001).collect::<Vec<u64>>(),
        "backlog then live lines, in order, no gaps, no duplicates"
    );
    assert_eq!(statuses.first().map(String::as_str), Some("RUNNING"));
    let metrics = metrics.unwrap();
    assert_eq!(
        (metrics["memoryUsage"].as_u64(), metrics["cpuUsage"].as_f64()),
        (Some(134217728), Some(45.2))
    );
}

/// OpenTelemetry log records stream like native lines: a subscriber of a trace's execution
/// reads them as they arrive, in order, each with the span that wrote it.
#[tokio::test]
async fn otlp_log_records_stream_to_a_subscriber_of_their_trace() {
    let s = server().await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let otlp = |path: &str, body: Value| {
        let url = format!("http://{}{path}", s.addr);
        async move {
            let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        }
    };
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // A child span first: the execution runs before its root ends.
    otlp(
        "/v1/traces",
        json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": "00f067aa0ba902b7", "parentSpanId": "00f067aa0ba902b1",
            "name": "chat gpt-4o", "kind": 3,
            "startTimeUnixNano": (now_ns - 2_000_000).to_string(), "endTimeUnixNano": now_ns.to_string(),
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]
        }]}]}]}),
    )
    .await;
    let mut ws = connect(s.addr).await;
    ws.send(Message::Text(
        json!({"type": "subscribe", "executionId": trace}).to_string().into(),
    ))
    .await
    .unwrap();
    for batch in 0..3 {
        let records: Vec<Value> = (0..10)
            .map(|i| {
                json!({
                    "timeUnixNano": now_ns.to_string(), "severityNumber": 9,
                    "body": {"stringValue": format!("step {}", batch * 10 + i)},
                    "traceId": trace, "spanId": "00f067aa0ba902b7"
                })
            })
            .collect();
        otlp(
            "/v1/logs",
            json!({"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeLogs": [{"logRecords": records}]}]}),
        )
        .await;
    }
    let mut lines = Vec::new();
    while lines.len() < 30 {
        let m = recv(&mut ws).await;
        if m["type"] == "log" {
            assert_eq!(m["executionId"], trace);
            assert_eq!(m["data"]["span_id"], "00f067aa0ba902b7", "{m}");
            lines.push((
                m["data"]["seq"].as_u64().unwrap(),
                m["data"]["log"].as_str().unwrap().to_string(),
            ));
        }
    }
    let expected: Vec<(u64, String)> = (0..30).map(|i| (i + 1, format!("step {i}"))).collect();
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn malformed_messages_get_an_error_and_ping_gets_pong() {
    let s = server().await;
    let mut ws = connect(s.addr).await;
    ws.send(Message::Text("{\"type\":\"subscribe\",\"topics\":[\"nope\"]}".into()))
        .await
        .unwrap();
    let m = recv(&mut ws).await;
    assert_eq!(m["type"], "error");
    assert!(m["message"].as_str().unwrap().contains("nope"));
    ws.send(Message::Text("{\"type\":\"ping\"}".into())).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "pong");
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_ingest_goes_on() {
    let s = server().await;
    let collector = DashboardServer::from_state(s.state.clone()).collector();
    let ingest = |from: usize, n: usize| {
        let collector = collector.clone();
        async move {
            let started = Instant::now();
            for chunk in (from..from + n).step_by(1000) {
                let events = (chunk..chunk + 1000)
                    .map(|i| {
                        observatory::model::Event::Log(observatory::model::LogEvent {
                            execution_id: "flood".into(),
                            message: format!("line {i} {}", "x".repeat(120)),
                            ..Default::default()
                        })
                    })
                    .collect();
                collector.send(events).await.unwrap();
            }
            n as f64 / started.elapsed().as_secs_f64()
        }
    };
    let alone = ingest(0, 20_000).await;

    // A client that subscribes and then never reads a byte.
    let mut stuck = connect(s.addr).await;
    stuck
        .send(Message::Text(
            json!({"type": "subscribe", "executionId": "flood"}).to_string().into(),
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.state.live.connections(), 1);
    let rss_before = rss_bytes();
    let with_stuck = ingest(20_000, 100_000).await;
    let rss_after = rss_bytes();
    println!(
        "ingest: {alone:.0} lines/s alone, {with_stuck:.0} lines/s with a client that never reads; rss {} MiB → {} MiB",
        rss_before >> 20,
        rss_after >> 20
    );

    // It is resynced or dropped (here: its socket stops accepting, so it is closed).
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.state.live.connections() > 0 && s.state.live.resyncs() == 0 {
        assert!(
            Instant::now() < deadline,
            "the stuck client was neither resynced nor dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rss_after < rss_before + (256 << 20),
        "memory stays bounded: {} → {} MiB",
        rss_before >> 20,
        rss_after >> 20
    );
    // Everything was stored all the same.
    let logs = s.state.store.tail_logs("flood", 1).await.unwrap();
    assert_eq!(logs[0].seq, 120_000);
    drop(stuck);
}
