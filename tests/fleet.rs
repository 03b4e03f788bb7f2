//! Two Observatory processes as one fleet (`--store postgres://…  --bus nats://…`) on the
//! real PostgreSQL and NATS JetStream: what is ingested at A is live at B, an alert
//! acknowledged at B is acknowledged at A and notified once, and when A is killed with
//! `kill -9` during sustained ingest, nothing A acknowledged is lost and B takes over
//! writing and alerting.

mod common;

use common::{fleet, free_port, pg_schema, receiver, spawn_server_with, wait_ready};
use futures::SinkExt;
use observatory::server::bus::scratch::ScratchStream;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

struct Instance {
    child: std::process::Child,
    base: String,
}

impl Instance {
    async fn start(dir: &std::path::Path, flags: &[&str]) -> Self {
        let port = free_port();
        let child = spawn_server_with(dir, port, flags);
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&reqwest::Client::new(), &base).await;
        let instance = Self { child, base };
        // Ready once its hub is rebuilt and it follows the stream.
        eventually("the instance to follow the stream", async || {
            let ready = instance.get("/health/ready").await;
            (ready["checks"]["bus"]["status"] == "ok").then_some(())
        })
        .await;
        instance
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(format!("{}{path}", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn role(&self) -> String {
        let ready = self.get("/health/ready").await;
        ready["checks"]["bus"]["details"]["role"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it gives a value, for up to 20 s.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn failures(agent: &str, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .flat_map(|i| {
            let id = format!("{agent}-{}-{i}", observatory::server::now_ms());
            [
                json!({"type": "execution", "id": id, "agent_id": agent, "status": "RUNNING"}),
                json!({"type": "status", "execution_id": id, "status": "FAILED", "error": "boom"}),
            ]
        })
        .collect();
    Value::Array(events)
}

fn alert_of<'a>(view: &'a Value, rule: &str) -> Option<&'a Value> {
    view["alerts"].as_array()?.iter().find(|a| a["rule"] == rule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_ingest_live_state_alerts_and_survive_kill_9_of_one() {
    let schema = pg_schema().await;
    let stream = ScratchStream::for_tests();
    let (hook, inbox) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("observatory.toml");
    let rule = |name: &str, agent: &str| {
        format!(
            "[[alerts.rules]]\nname = \"{name}\"\nseverity = \"critical\"\nsummary = \"{{{{agent_id}}}} failed\"\n\
             condition = {{ kind = \"execution_failed\", agent_id = \"{agent}\", window = \"60s\" }}\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "[alerts]\neval_interval = \"200ms\"\ndefault_rules = false\n{}{}\
             [[alerts.receivers]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{hook}\"\n",
            rule("FlakyFails", "flaky"),
            rule("LateFails", "late"),
        ),
    )
    .unwrap();
    let url = schema.url();
    let flags = [
        "--store",
        url.as_str(),
        "--bus",
        stream.server(),
        "--bus-stream",
        stream.name(),
        "--config",
        config.to_str().unwrap(),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Instance::start(dir_a.path(), &flags).await;
    eventually("A to lead", async || (a.role().await == "leader").then_some(())).await;
    let b = Instance::start(dir_b.path(), &flags).await;
    assert_eq!(b.role().await, "follower");

    // A browser's socket on B, watching one execution.
    let ws_url = b.base.replacen("http", "ws", 1) + "/ws";
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ws.send(Message::Text(
        json!({"type": "subscribe", "executionId": "shared"}).to_string().into(),
    ))
    .await
    .unwrap();

    // Native events and OTLP at A.
    let (code, body) = a.post("/api/v1/events", &fleet()).await;
    assert_eq!(code, 200, "{body}");
    let mut lines = vec![json!({"type": "execution", "id": "shared", "agent_id": "planner", "status": "RUNNING"})];
    lines.extend((0..20).map(|i| json!({"type": "log", "execution_id": "shared", "message": format!("line {i}")})));
    let (code, body) = a.post("/api/v1/events", &Value::Array(lines)).await;
    assert_eq!(code, 200, "{body}");
    let trace = "5b8efff798038103d269b633813fc60d";
    let otlp = common::two_span_trace(trace);
    let (code, body) = a.post("/v1/traces", &otlp).await;
    assert_eq!(code, 200, "{body}");

    // B's socket streams the lines A took, in order, with no gaps.
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        let m = common::recv(&mut ws).await;
        if m["type"] == "log" {
            assert_eq!(m["executionId"], "shared");
            seqs.push(m["data"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    // B serves what A ingested: the execution, the OTLP trace's spans, the agents.
    let exec = b.get("/api/executions/shared").await;
    assert_eq!(exec["execution"]["status"], "RUNNING", "{exec}");
    let spans = eventually("the trace's spans at B", async || {
        let s = b.get(&format!("/api/executions/{trace}/spans")).await;
        (s.as_array().map(Vec::len) == Some(2)).then_some(s)
    })
    .await;
    assert_eq!(spans[1]["model"], "gpt-4o", "{spans}");

    // An alert fires at the leader (A); B acknowledges it; A shows it acknowledged.
    let (code, _) = a.post("/api/v1/events", &failures("flaky", 3)).await;
    assert_eq!(code, 200);
    let id = eventually("the alert at B", async || {
        let v = b.get("/api/alerts").await;
        alert_of(&v, "FlakyFails")
            .filter(|a| a["state"] == "firing")
            .map(|a| a["id"].as_str().unwrap().to_string())
    })
    .await;
    let (code, acked) = b
        .post(
            &format!("/api/alerts/{id}/ack"),
            &json!({"by": "ana", "note": "looking at it from B"}),
        )
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["ack"]["note"], "looking at it from B");
    eventually("the acknowledgement at A", async || {
        let v = a.get("/api/alerts").await;
        alert_of(&v, "FlakyFails").filter(|a| a["ack"]["by"] == "ana").map(drop)
    })
    .await;

    // Sustained ingest at A, then kill -9 A in the middle of it.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (base, acknowledged) = (a.base.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for batch in 0.. {
                let lines: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "log", "execution_id": "sustained", "message": format!("{batch}-{i}")}))
                    .collect();
                match client.post(format!("{base}/api/v1/events")).json(&lines).send().await {
                    Ok(r) if r.status().is_success() => acknowledged.store((batch + 1) * 50, Ordering::SeqCst),
                    _ => return,
                }
            }
        })
    };
    eventually("some sustained ingest", async || {
        (acknowledged.load(Ordering::SeqCst) >= 1_000).then_some(())
    })
    .await;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    writer.await.unwrap();
    let acknowledged = acknowledged.load(Ordering::SeqCst);

    eventually("B to lead", async || (b.role().await == "leader").then_some(())).await;
    let logs = eventually("every acknowledged line at B", async || {
        let mut logs = Vec::new();
        loop {
            let page = b
                .get(&format!(
                    "/api/executions/sustained/logs?after={}&limit=5000",
                    logs.len()
                ))
                .await;
            let page = page.as_array().expect("a page of lines").clone();
            if page.is_empty() {
                break;
            }
            logs.extend(page);
        }
        (logs.len() >= acknowledged).then_some(logs)
    })
    .await;
    let texts: std::collections::HashSet<&str> = logs.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(texts.len(), logs.len(), "no line stored twice");
    for i in 0..acknowledged {
        assert!(
            texts.contains(format!("{}-{}", i / 50, i % 50).as_str()),
            "acknowledged line {i} is lost"
        );
    }
    assert!(
        logs.iter().enumerate().all(|(i, l)| l["seq"] == i as u64 + 1),
        "numbered without gaps"
    );

    // B evaluates alerts now: a new failure fires there, and is notified once.
    let (code, _) = b.post("/api/v1/events", &failures("late", 2)).await;
    assert_eq!(code, 200);
    eventually("the alert B fired", async || {
        let v = b.get("/api/alerts").await;
        alert_of(&v, "LateFails").filter(|a| a["state"] == "firing").map(drop)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let inbox = inbox.lock().unwrap();
    let firing = |rule: &str| {
        inbox
            .iter()
            .filter(|p| {
                p["status"] == "firing"
                    && p["groupLabels"]["alertname"] == rule
                    && p["alerts"][0]["acknowledged"] == false
            })
            .count()
    };
    assert_eq!(
        firing("FlakyFails"),
        1,
        "one notification per transition across the fleet"
    );
    assert_eq!(firing("LateFails"), 1);
}
