//! The server on the PostgreSQL store (`--store postgres://…`), end to end: the binary
//! ingests native events and OTLP, serves them back, and keeps every acknowledged item
//! through `kill -9`. The store's own contract runs on both backends in `store::contract`.

mod common;

use common::{fleet, free_port, pg_schema, spawn_server_with, wait_ready};
use serde_json::{json, Value};

async fn get(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_server_on_postgres_keeps_what_it_acknowledged_through_kill_9() {
    let schema = pg_schema().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let url = schema.url();
    let flags = ["--store", url.as_str()];
    let mut child = spawn_server_with(dir.path(), port, &flags);
    wait_ready(&client, &base).await;

    let r = client
        .post(format!("{base}/api/v1/events"))
        .json(&fleet())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let trace = "5b8efff798038103d269b633813fc60c";
    let otlp = common::two_span_trace(trace);
    let r = client
        .post(format!("{base}/v1/traces"))
        .json(&otlp)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let mut acknowledged = 0;
    for batch in 0..10 {
        let lines: Vec<Value> = (0..100)
            .map(|i| json!({"type": "log", "execution_id": "durable", "message": format!("line {batch}-{i}")}))
            .collect();
        let r = client
            .post(format!("{base}/api/v1/events"))
            .json(&lines)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        acknowledged += 100;
    }
    child.kill().unwrap(); // SIGKILL: no flush, no shutdown
    child.wait().unwrap();

    let mut child = spawn_server_with(dir.path(), port, &flags);
    wait_ready(&client, &base).await;
    let health = get(&client, format!("{base}/api/health")).await;
    assert_eq!(health["store"]["backend"], "postgres", "{health}");
    let logs = get(
        &client,
        format!("{base}/api/executions/durable/logs?after=0&limit=5000"),
    )
    .await;
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), acknowledged);
    assert!(
        logs.iter().enumerate().all(|(i, l)| l["seq"] == i as u64 + 1),
        "no gaps, no duplicates"
    );
    let agents = get(&client, format!("{base}/api/agents")).await;
    let ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"alpha") && ids.contains(&"beta"), "{ids:?}");
    let e1 = get(&client, format!("{base}/api/executions/e1")).await;
    assert_eq!(e1["execution"]["status"], "COMPLETED", "{e1}");
    let spans = get(&client, format!("{base}/api/executions/{trace}/spans")).await;
    let names: Vec<&str> = spans
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["invoke_agent planner", "chat gpt-4o"], "{spans}");
    // Numbering goes on from the store.
    let r = client
        .post(format!("{base}/api/v1/events"))
        .json(&json!([{"type": "log", "execution_id": "durable", "message": "after the kill"}]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let tail = get(
        &client,
        format!("{base}/api/executions/durable/logs?after={acknowledged}"),
    )
    .await;
    assert_eq!(tail[0]["seq"], acknowledged as u64 + 1, "{tail}");
    let ready = client.get(format!("{base}/health/ready")).send().await.unwrap();
    assert!(ready.status().is_success(), "{}", ready.text().await.unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_store_url_that_is_not_postgres_is_refused_at_start_with_the_setting_named() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_observatory"))
        .args(["--store", "mysql://root@localhost/db", "--otlp-grpc-listen", "off"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`store`") && err.contains("postgres://"), "{err}");
}
