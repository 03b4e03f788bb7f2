//! Every REST route, through `router(state).oneshot(...)`.

mod common;

use axum::http::StatusCode;
use common::{app, find_item, fleet};
use serde_json::{json, Value};

#[tokio::test]
async fn query_routes_answer_with_the_ingested_fleet() {
    let app = app().await;
    let (status, body) = app.ingest(fleet()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 15);

    let (s, o) = app.get("/api/overview").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["agents_total"], 2);
    assert_eq!(o["executions_running"], 1);
    assert_eq!(o["executions_finished"], 2);
    assert_eq!(o["success_rate"], 50.0);

    let (_, agents) = app.get("/api/agents").await;
    let names: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    let beta = &agents[1];
    assert_eq!(
        (beta["tasks_failed"].as_u64(), beta["tasks_in_progress"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(beta["state"], "running");

    let (s, alpha) = app.get("/api/agents/alpha").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(alpha["agent"]["tokens_in"], 1000);
    assert_eq!(alpha["recent_executions"][0]["id"], "e1");

    let (_, m) = app.get("/api/metrics").await;
    for key in ["overview", "agents", "workflows", "llm_providers", "plugins", "system"] {
        assert!(!m[key].is_null(), "metrics snapshot has {key}");
    }

    let (_, wf) = app.get("/api/workflows").await;
    assert_eq!(wf[0]["successful_executions"], 1);
    assert_eq!(wf[0]["node_count"], 3);

    let (_, llm) = app.get("/api/llm").await;
    assert_eq!(llm[0]["id"], "openai/gpt-4o");
    assert_eq!(llm[0]["total_tokens"], 1200);
    assert!(llm[0]["cost_usd"].as_f64().unwrap() > 0.0);

    let (_, plugins) = app.get("/api/plugins").await;
    let vdb = find_item(&plugins, "id", "vector_db");
    assert_eq!(
        (vdb["version"].as_str(), vdb["call_count"].as_u64()),
        (Some("2.0.0"), Some(1))
    );

    let (_, system) = app.get("/api/system").await;
    assert!(system.as_array().unwrap().iter().any(|h| h["host"] == "agent-host-1"));

    let (s, health) = app.get("/api/health").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["store"]["backend"], "sqlite");
    assert_eq!(health["ingest"]["events_accepted"], 15);
}

#[tokio::test]
async fn executions_filter_paginate_and_show_detail_and_logs() {
    let app = app().await;
    app.ingest(fleet()).await;

    let (_, page) = app.get("/api/executions").await;
    assert_eq!(page["total"], 3);
    let (_, page) = app.get("/api/executions?agent_id=beta&status=FAILED").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["id"], "e2");
    assert_eq!(page["items"][0]["error"], "boom");
    let (_, page) = app.get("/api/executions?limit=1&offset=1").await;
    assert_eq!(
        (page["items"].as_array().unwrap().len(), page["total"].as_u64()),
        (1, Some(3))
    );

    let (s, d) = app.get("/api/executions/e1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(d["execution"]["status"], "COMPLETED");
    assert_eq!(d["execution"]["log_count"], 2);
    assert_eq!(d["agent_name"], "Alpha");
    assert_eq!(d["resources"][0]["cpu_percent"], 42.0);

    let (_, logs) = app.get("/api/executions/e1/logs").await;
    let msgs: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, ["first", "second"]);
    assert_eq!(logs[1]["attributes"]["attempt"], 2);
    let (_, logs) = app.get("/api/executions/e1/logs?after=1&limit=10").await;
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs[0]["seq"], 2);
}

#[tokio::test]
async fn bad_queries_and_unknown_ids_get_the_json_error_shape() {
    let app = app().await;
    for (uri, status, needle) in [
        ("/api/agents/nope", StatusCode::NOT_FOUND, "agent `nope` not found"),
        (
            "/api/executions/nope",
            StatusCode::NOT_FOUND,
            "execution `nope` not found",
        ),
        (
            "/api/executions/nope/logs",
            StatusCode::NOT_FOUND,
            "execution `nope` not found",
        ),
        (
            "/api/executions?status=DONE",
            StatusCode::BAD_REQUEST,
            "invalid query string",
        ),
        (
            "/api/executions?limit=100000",
            StatusCode::BAD_REQUEST,
            "over the maximum",
        ),
        ("/api/executions?colour=red", StatusCode::BAD_REQUEST, "colour"),
        ("/api/nothing-here", StatusCode::NOT_FOUND, "/api/nothing-here"),
    ] {
        let (s, body) = app.get(uri).await;
        assert_eq!(s, status, "{uri}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{uri}: {message}");
        assert!(body["code"].is_string(), "{uri}: {body}");
    }
}

#[tokio::test]
async fn server_functions_answer_on_their_fixed_endpoints() {
    let app = app().await;
    app.ingest(fleet()).await;
    let (s, body) = app
        .post("/api/fn/overview", "application/x-www-form-urlencoded", "")
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["agents_total"], 2);
    let (s, body) = app
        .post("/api/fn/execution", "application/x-www-form-urlencoded", "id=e2")
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["execution"]["status"], "FAILED");
    let (s, body) = app
        .post("/api/fn/execution", "application/x-www-form-urlencoded", "id=missing")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn probes_and_client_routes() {
    let app = app().await;
    let (s, body) = app.get("/health/live").await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("healthy")));
    let (s, body) = app.get("/health/ready").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "healthy", "{body}");
    for check in ["store", "ingest", "memory", "notifier", "websocket"] {
        assert!(body["checks"][check]["status"].is_string(), "{check}: {body}");
    }
    assert_eq!(body["checks"]["store"]["status"], "ok");
    assert_eq!(body["checks"]["store"]["message"], "probe write and read succeeded");
    assert!(
        body["checks"]["memory"]["details"]["rssMB"].as_f64().unwrap() > 0.0,
        "{body}"
    );
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    // A client-side route gets the app's index.html (or, unbuilt, a page saying how to build it).
    let (s, body) = app.get("/executions/some-id").await;
    assert_eq!(s, StatusCode::OK);
    let html = match body {
        Value::String(s) => s,
        other => panic!("expected html, got {other}"),
    };
    assert!(html.contains("<title>Observatory</title>"), "{html}");
    let (s, _) = app.get("/no-such-file.js").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_workflow_has_its_detail_and_its_executions() {
    let app = app().await;
    app.ingest(fleet()).await;
    let (s, body) = app.get("/api/workflows/wf").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["workflow"]["name"], "Pipeline");
    let ids: Vec<&str> = body["recent_executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e1"]);
    let (_, page) = app.get("/api/executions?workflow_id=wf").await;
    assert_eq!(page["total"], 1);
    let (s, _) = app.get("/api/workflows/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn series_cover_every_range_from_roll_ups_that_survive_a_restart() {
    let app = app().await;
    app.ingest(fleet()).await;
    for (range, points, step) in [
        ("15m", 90, 10_000),
        ("1h", 360, 10_000),
        ("6h", 360, 60_000),
        ("24h", 144, 600_000),
        ("7d", 1008, 600_000),
    ] {
        let (s, body) = app.get(&format!("/api/series?range={range}")).await;
        assert_eq!(s, StatusCode::OK, "{range}: {body}");
        assert_eq!(body["range"], range);
        assert_eq!(body["step_ms"], step, "{range}");
        let pts = body["points"].as_array().unwrap();
        assert_eq!(pts.len(), points, "{range}");
        let total = |k: &str| pts.iter().map(|p| p[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(
            (total("completed"), total("failed"), total("started")),
            (1, 1, 3),
            "{range}"
        );
        assert_eq!(total("tokens"), 1200, "{range}");
        assert!(pts.iter().any(|p| p["tokens_by_provider"]["openai"] == 1200), "{range}");
        assert!(pts.iter().any(|p| p["llm_p50_ms"].as_f64().is_some()), "{range}");
    }

    let (s, body) = app.get("/api/agents/beta/series?range=15m").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let pts = body["points"].as_array().unwrap();
    assert_eq!(pts.iter().map(|p| p["failed"].as_u64().unwrap()).sum::<u64>(), 1);
    assert_eq!(pts.iter().map(|p| p["started"].as_u64().unwrap()).sum::<u64>(), 2);

    let (s, body) = app.get("/api/series?range=2h").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("range"), "{body}");
    let (s, _) = app.get("/api/agents/nope/series").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The roll-ups were committed with the events: a new server on the same store has them.
    let dir = app.dir;
    app.state.store.close().await;
    let config = observatory::server::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let state = observatory::server::AppState::open(config).await.unwrap();
    let again = common::TestApp {
        router: observatory::server::router(state.clone()),
        state,
        dir,
    };
    for range in ["15m", "7d"] {
        let (_, body) = again.get(&format!("/api/series?range={range}")).await;
        let pts = body["points"].as_array().unwrap();
        assert_eq!(
            pts.iter().map(|p| p["failed"].as_u64().unwrap()).sum::<u64>(),
            1,
            "{range} after restart"
        );
    }
}

#[tokio::test]
async fn readiness_is_unhealthy_503_when_the_store_cannot_write() {
    let app = app().await;
    app.state.store.close().await;
    let (s, body) = app.get("/health/ready").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(body["checks"]["store"]["status"], "error");
    assert!(
        body["checks"]["store"]["message"].as_str().unwrap().contains("probe"),
        "{body}"
    );
    // Liveness is about the process, which is fine.
    let (s, _) = app.get("/health/live").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn huge_offsets_and_sequence_numbers_get_a_clear_answer_not_a_500() {
    let app = app().await;
    let (s, v) = app
        .ingest(json!([{"type": "execution", "id": "e1", "agent_id": "a"},
                       {"type": "log", "execution_id": "e1", "message": "only"}]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for offset in ["18446744073709551615", "9223372036854775808", "100000001"] {
        let (s, v) = app.get(&format!("/api/executions?offset={offset}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "offset {offset}: {v}");
        let message = v["message"].as_str().unwrap();
        assert!(message.contains("offset") && message.contains("maximum"), "{message}");
    }
    let (s, v) = app.get("/api/executions?offset=5").await;
    assert_eq!((s, v["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    // Nothing comes after the largest sequence number, however it is written.
    for after in ["18446744073709551615", "9223372036854775808"] {
        let (s, v) = app.get(&format!("/api/executions/e1/logs?after={after}")).await;
        assert_eq!((s, v.clone()), (StatusCode::OK, json!([])), "after {after}: {v}");
    }
}

#[tokio::test]
async fn an_idle_agent_leaves_the_live_table_and_is_still_found_by_id() {
    let app = common::app().await;
    let now = observatory::server::clock::now_ms();
    let two_days_ago = now - 2 * 24 * 3600 * 1000;
    let (s, v) = app
        .ingest(json!([
            {"type": "agent", "id": "nightly", "name": "Nightly", "timestamp": two_days_ago},
            {"type": "execution", "id": "run-1", "agent_id": "nightly", "status": "COMPLETED", "timestamp": two_days_ago},
            {"type": "agent", "id": "busy"}
        ]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let retired = app.state.hub.retire(now);
    assert_eq!(retired.agents, ["nightly"]);
    let (_, agents) = app.get("/api/agents").await;
    let ids: Vec<String> = common::ids(&agents);
    assert_eq!(ids, ["busy"]);
    let (s, detail) = app.get("/api/agents/nightly").await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    assert_eq!(detail["agent"]["name"], "Nightly");
    assert_eq!(detail["agent"]["state"], "offline");
    assert_eq!(detail["recent_executions"][0]["id"], "run-1", "{detail}");
    // It comes back to the live set when it is heard from again.
    app.ingest(json!([{"type": "agent", "id": "nightly"}])).await;
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(agents.as_array().unwrap().len(), 2);
}
