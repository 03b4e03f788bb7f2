//! `POST /api/v1/events`: every way a request can be wrong, and what is stored when it is right.

mod common;

use axum::http::StatusCode;
use common::{app, app_with, split, GatedStore};
use observatory::server::{AppState, Config};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[tokio::test]
async fn a_bad_item_names_index_and_field_and_nothing_is_stored() {
    let app = app().await;
    let (s, body) = app
        .ingest(json!([
            {"type": "agent", "id": "ok"},
            {"type": "log", "execution_id": "e"},
            {"type": "llm_call", "provider": "p", "model": "m", "latency_ms": -5}
        ]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");
    assert_eq!(body["details"][0]["index"], 1);
    assert_eq!(body["details"][0]["field"], "message");
    assert_eq!(body["details"][1]["index"], 2);
    assert_eq!(body["details"][1]["field"], "latency_ms");
    assert!(body["message"].as_str().unwrap().contains("nothing was stored"));
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(
        agents.as_array().unwrap().len(),
        0,
        "the valid item of a rejected batch is not stored"
    );
    let (_, health) = app.get("/api/health").await;
    assert_eq!(health["ingest"]["events_rejected"], 2);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_bad_json_is_400() {
    let app = app().await;
    let (s, body) = app.post("/api/v1/events", "text/plain", "hello").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body["message"].as_str().unwrap().contains("application/json"));
    let (s, body) = app.post("/api/v1/events", "application/json", "[{\"type\":").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("invalid JSON"));
    let (s, _) = app.post("/api/v1/events", "application/json", "[]").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bodies_and_batches_over_the_limit_are_413() {
    let app = app_with(|c| {
        c.max_body_bytes = 2048;
        c.max_batch_events = 3;
    })
    .await;
    let big = json!([{"type": "log", "execution_id": "e", "message": "x".repeat(4096)}]).to_string();
    let (s, body) = app.post("/api/v1/events", "application/json", big.clone()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["message"].as_str().unwrap().contains("2048"));

    // The limit applies after decompression: a small gzip of a big body is refused too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let req = axum::http::Request::post("/api/v1/events")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(axum::body::Body::from(gz.finish().unwrap()))
        .unwrap();
    let (s, _) = split(tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);

    let four = json!([{"type": "agent", "id": "a"}, {"type": "agent", "id": "b"}, {"type": "agent", "id": "c"}, {"type": "agent", "id": "d"}]);
    let (s, body) = app.ingest(four).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["message"].as_str().unwrap().contains("limit is 3"));
}

#[tokio::test]
async fn gzip_and_ndjson_are_accepted() {
    let app = app().await;
    let nd = "{\"type\":\"agent\",\"id\":\"a\"}\n{\"type\":\"execution\",\"id\":\"e\",\"agent_id\":\"a\"}\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(nd.as_bytes()).unwrap();
    let req = axum::http::Request::post("/api/v1/events")
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(axum::body::Body::from(gz.finish().unwrap()))
        .unwrap();
    let (s, body) = split(tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 2);
    let (_, e) = app.get("/api/executions/e").await;
    assert_eq!(e["execution"]["status"], "PENDING");
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let store = GatedStore::open(dir.path(), gate.clone());
    let config = Config {
        data_dir: dir.path().into(),
        ingest_queue: 1,
        ..Config::default()
    };
    let state = AppState::with_store(config, Arc::new(store)).await.unwrap();
    let router = observatory::server::router(state.clone());
    let send = |id: &'static str| {
        let router = router.clone();
        tokio::spawn(async move {
            let body = json!([{"type": "agent", "id": id}]).to_string();
            let req = axum::http::Request::post("/api/v1/events")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap();
            let resp = tower::ServiceExt::oneshot(router, req).await.unwrap();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (resp.status(), retry)
        })
    };
    // First batch: applied, its commit waits on the gate. Second: applied, its commit queued
    // behind the first. Third: taken by the pipeline, which waits for the first commit before
    // applying it. Fourth: fills the queue.
    let mut sent = Vec::new();
    for id in ["a", "b", "c", "d"] {
        sent.push(send(id));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, retry) = send("e").await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry.as_deref(), Some("1"));

    gate.add_permits(100);
    for s in sent {
        assert_eq!(s.await.unwrap().0, StatusCode::OK);
    }
    let ids: Vec<String> = state
        .hub
        .agents(observatory::server::now_ms())
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    assert_eq!(state.ingest.stats().batches_rejected_overload, 1);
}

#[tokio::test]
async fn the_in_process_collector_validates_like_http() {
    let app = app().await;
    let collector = observatory::server::DashboardServer::from_state(app.state.clone()).collector();
    collector
        .log("e1", observatory::model::LogLevel::Info, "hello")
        .await
        .unwrap();
    let err = collector
        .log("", observatory::model::LogLevel::Info, "x")
        .await
        .unwrap_err();
    assert_eq!(err.details[0].field, "execution_id");
    let (_, logs) = app.get("/api/executions/e1/logs").await;
    assert_eq!(logs[0]["message"], "hello");
}

#[tokio::test]
async fn amounts_too_large_to_total_are_refused_naming_field_and_bound_and_totals_stay_finite() {
    let app = app().await;
    let call = |cost: f64, tokens: u64| {
        json!({"type": "llm_call", "execution_id": "e", "agent_id": "a", "provider": "p", "model": "m",
               "latency_ms": 5, "cost_usd": cost, "tokens_in": tokens})
    };
    let (s, body) = app.ingest(json!([call(1e308, 1), call(1e308, 1)])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["details"][0]["field"], "cost_usd");
    let why = body["details"][0]["message"].as_str().unwrap();
    assert!(why.contains("1000000000000"), "names the bound: {why}");
    // The largest accepted amounts and token counts, many times over, still add up.
    let (s, body) = app
        .ingest(json!([{"type": "execution", "id": "e", "agent_id": "a"},
                       call(1e12, u64::MAX), call(1e12, u64::MAX), call(1e12, u64::MAX)]))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(agents[0]["cost_usd"], 3e12);
    assert_eq!(agents[0]["tokens_in"], u64::MAX, "token totals saturate");
}

#[tokio::test]
async fn a_burst_of_readiness_checks_reaches_the_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(GatedStore::open(dir.path(), Arc::new(Semaphore::new(1000))));
    let config = Config {
        data_dir: dir.path().into(),
        ..Config::default()
    };
    let state = AppState::with_store(config, store.clone()).await.unwrap();
    let router = observatory::server::router(state);
    let before = store.stats_calls.load(std::sync::atomic::Ordering::Relaxed);
    let calls = (0..50).map(|_| {
        let router = router.clone();
        tokio::spawn(async move {
            use tower::ServiceExt;
            let req = axum::http::Request::get("/health/ready")
                .body(axum::body::Body::empty())
                .unwrap();
            split(router.oneshot(req).await.unwrap()).await
        })
    });
    for call in futures::future::join_all(calls).await {
        let (s, v) = call.unwrap();
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["checks"]["store"]["status"], "ok", "{v}");
    }
    let reads = store.stats_calls.load(std::sync::atomic::Ordering::Relaxed) - before;
    // One report (a probe and a stats read), twice at most if the burst straddles its age.
    assert!(reads <= 4, "50 readiness checks read the store {reads} times");
}

#[tokio::test]
async fn executions_silent_past_abandon_after_end_cancelled_and_say_why() {
    let app = app().await;
    let now = observatory::server::now_ms();
    let hours_ago = |h: i64| now - h * 3_600_000;
    let (s, v) = app
        .ingest(json!([
            // A trace whose root never came: last heard of two hours ago.
            {"type": "execution", "id": "lost", "agent_id": "a", "status": "RUNNING", "timestamp": hours_ago(2)},
            {"type": "log", "execution_id": "lost", "message": "step 1", "timestamp": hours_ago(2)},
            // Log lines of an execution nobody announced, as long ago.
            {"type": "log", "execution_id": "orphan", "message": "hello", "timestamp": hours_ago(2)},
            // Busy: started long ago, heard of a minute ago.
            {"type": "execution", "id": "busy", "agent_id": "a", "status": "RUNNING", "timestamp": hours_ago(3)},
            {"type": "log", "execution_id": "busy", "message": "still going", "timestamp": now - 60_000}
        ]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let ended = observatory::server::ingest::abandon::sweep(
        &app.state.hub,
        &app.state.ingest,
        now,
        app.state.config.abandon_after,
    )
    .await
    .unwrap();
    assert_eq!(ended, 2);
    for id in ["lost", "orphan"] {
        let (_, d) = app.get(&format!("/api/executions/{id}")).await;
        assert_eq!(d["execution"]["status"], "CANCELLED", "{d}");
        assert!(d["execution"]["error"].as_str().unwrap().contains("abandoned"), "{d}");
    }
    let (_, d) = app.get("/api/executions/busy").await;
    assert_eq!(d["execution"]["status"], "RUNNING");
    let (_, agents) = app.get("/api/agents").await;
    let a = common::find_item(&agents, "id", "a");
    assert_eq!(a["tasks_in_progress"], 1, "only the busy one is still in progress: {a}");
}

/// A server on a store whose faults the test switches on and off.
async fn faulty() -> (Arc<GatedStore>, common::TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(GatedStore::open(
        dir.path(),
        Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
    ));
    let config = Config {
        data_dir: dir.path().into(),
        ..Config::default()
    };
    let state = AppState::with_store(config, store.clone()).await.unwrap();
    (store.clone(), common::TestApp::from_state(state, dir))
}

#[tokio::test]
async fn a_commit_the_store_refuses_leaves_nothing_live_and_ingest_recovers() {
    use std::sync::atomic::Ordering;
    let (store, app) = faulty().await;
    let (s, _) = app
        .ingest(json!([
            {"type": "execution", "id": "kept", "agent_id": "a", "status": "RUNNING"},
            {"type": "log", "execution_id": "kept", "message": "one"}
        ]))
        .await;
    assert_eq!(s, StatusCode::OK);
    store.fail_commits.store(true, Ordering::Relaxed);
    let (s, v) = app
        .ingest(json!([
            {"type": "log", "execution_id": "kept", "message": "lost two"},
            {"type": "execution", "id": "refused", "agent_id": "b", "status": "RUNNING"}
        ]))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("nothing of it was stored"),
        "{v}"
    );
    store.fail_commits.store(false, Ordering::Relaxed);

    // The next batch finds the live state as the store has it: no execution or agent that
    // was refused, the log numbering where the store left it.
    let (s, _) = app
        .ingest(json!([{"type": "log", "execution_id": "kept", "message": "two"}]))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.get("/api/executions/refused").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, agents) = app.get("/api/agents").await;
    assert_eq!(agents.as_array().unwrap().len(), 1, "{agents}");
    let (_, logs) = app.get("/api/executions/kept/logs").await;
    let lines: Vec<(u64, &str)> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["seq"].as_u64().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(1, "one"), (2, "two")]);
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("observatory_ingest_events_rejected_total{reason=\"store_unavailable\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_read_of_stored_executions_refuses_the_group_instead_of_starting_them_again() {
    use std::sync::atomic::Ordering;
    let (store, app) = faulty().await;
    store.fail_reads.store(true, Ordering::Relaxed);
    let (s, v) = app
        .ingest(json!([{"type": "log", "execution_id": "x", "message": "one"}]))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["message"].as_str().unwrap().contains("could not be read"), "{v}");
    store.fail_reads.store(false, Ordering::Relaxed);
    let (s, _) = app.get("/api/executions/x").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .ingest(json!([{"type": "log", "execution_id": "x", "message": "one"}]))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, logs) = app.get("/api/executions/x/logs").await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
}

#[tokio::test]
async fn ingest_health_counts_the_last_hour_by_source_and_reason() {
    use observatory::server::auth::{hash_token, Role, TokenConfig};
    let app = app_with(|c| {
        c.auth.tokens = [("alpha", Role::Ingest), ("beta", Role::Ingest), ("ops", Role::Viewer)]
            .into_iter()
            .map(|(name, role)| TokenConfig {
                name: name.into(),
                role,
                sha256: hash_token(&format!("{name}-secret")),
            })
            .collect();
    })
    .await;
    let send = |token: Option<&str>, uri: &str, body: String| {
        let mut req = axum::http::Request::post(uri).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}-secret"));
        }
        app.send(req.body(axum::body::Body::from(body)).unwrap())
    };
    let ahead = observatory::server::now_ms() + 3_600_000;
    let (s, v) = send(
        Some("alpha"),
        "/api/v1/events",
        json!([
            {"type": "agent", "id": "a"},
            {"type": "log", "execution_id": "e", "message": "from the future", "timestamp": ahead}
        ])
        .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = send(Some("beta"), "/api/v1/events", json!([{"type": "log"}]).to_string()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = send(
        None,
        "/api/v1/events",
        json!([{"type": "agent", "id": "b"}]).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // OTLP, in part: one span of two has no valid trace id.
    let span = |trace: &str, id: &str| {
        json!({"traceId": trace, "spanId": id, "name": "invoke_agent a",
               "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000"})
    };
    let traces = json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        span("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),
        span("00000000000000000000000000000000", "b7ad6b7169203332")
    ]}]}]});
    let (s, v) = send(Some("alpha"), "/v1/traces", traces.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let read = axum::http::Request::get("/api/ingest/health")
        .header("authorization", "Bearer ops-secret")
        .body(axum::body::Body::empty())
        .unwrap();
    let (s, h) = app.send(read).await;
    assert_eq!(s, StatusCode::OK, "{h}");
    let source = |name: &str| {
        h["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == name)
            .unwrap_or_else(|| panic!("no source {name}: {h}"))
            .clone()
    };
    let alpha = source("alpha");
    assert_eq!(alpha["accepted"], 3, "two events and a span: {alpha}");
    assert_eq!(alpha["refused"]["validation"], 1, "{alpha}");
    assert_eq!(alpha["partial"], 1, "{alpha}");
    assert_eq!(source("beta")["refused"]["validation"], 1);
    assert_eq!(source("unauthenticated")["refused"]["unauthorized"], 1);
    assert_eq!(h["totals"]["accepted"], 3);
    assert_eq!(h["clock_skew"]["items_ahead"], 1, "{h}");
    assert!(h["clock_skew"]["max_ahead_ms"].as_i64().unwrap() > 3_500_000, "{h}");
    assert_eq!(h["window_minutes"], 60);
    assert!(h["budget_capacity"].as_u64().unwrap() > 0);
    assert_eq!(h["live_agents"], 2, "a and the span's service: {h}");
    assert_eq!(h["minutes"].as_array().unwrap().len(), 1);
}
