//! Durability: what was acknowledged is there after a clean restart and after `kill -9`.

mod common;

use common::{fleet, free_port, spawn_server as start, wait_ready};
use observatory::server::{AppState, Config};
use serde_json::json;

#[tokio::test]
async fn state_survives_a_clean_restart_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().into(),
        ..Config::default()
    };
    {
        let state = AppState::open(config.clone()).await.unwrap();
        let router = observatory::server::router(state.clone());
        let app = common::TestApp {
            state: state.clone(),
            router,
            dir: tempfile::tempdir().unwrap(),
        };
        let (s, _) = app.ingest(fleet()).await;
        assert!(s.is_success());
        state.store.close().await;
    }
    let state = AppState::open(config).await.unwrap();
    let router = observatory::server::router(state.clone());
    let app = common::TestApp {
        state,
        router,
        dir: tempfile::tempdir().unwrap(),
    };
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(agents.as_array().unwrap().len(), 2);
    assert_eq!(agents[0]["tasks_completed"], 1);
    let (_, e3) = app.get("/api/executions/e3").await;
    assert_eq!(e3["execution"]["status"], "RUNNING");
    let (_, llm) = app.get("/api/llm").await;
    assert_eq!(llm[0]["total_requests"], 1);
    app.ingest(json!([{"type": "log", "execution_id": "e1", "message": "after restart"}]))
        .await;
    let (_, logs) = app.get("/api/executions/e1/logs").await;
    let seqs: Vec<u64> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut child = start(dir.path(), port);
    wait_ready(&client, &base).await;

    let mut acknowledged = 0;
    for batch in 0..20 {
        let events: Vec<_> = (0..50)
            .map(|i| json!({"type": "log", "execution_id": "durable", "message": format!("line {batch}-{i}")}))
            .collect();
        let resp = client
            .post(format!("{base}/api/v1/events"))
            .json(&events)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        acknowledged += 50;
    }
    child.kill().unwrap(); // SIGKILL: no flush, no shutdown
    child.wait().unwrap();

    let mut child = start(dir.path(), port);
    wait_ready(&client, &base).await;
    let logs: serde_json::Value = client
        .get(format!("{base}/api/executions/durable/logs?after=0&limit=5000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), acknowledged);
    assert!(
        logs.iter().enumerate().all(|(i, l)| l["seq"] == i as u64 + 1),
        "no gaps, no duplicates"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
