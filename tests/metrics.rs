//! `GET /metrics` and `GET /metrics/json` over the test fleet, checked by `promtool`.

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::{app, app_with, fleet, TestApp};
use http_body_util::BodyExt;
use std::io::Write;
use std::process::{Command, Stdio};
use tower::ServiceExt;

/// The status, content type and body of a GET with an optional `Accept`.
async fn scrape(app: &TestApp, uri: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get(uri);
    if let Some(a) = accept {
        req = req.header(header::ACCEPT, a);
    }
    let resp = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

async fn fleet_app() -> TestApp {
    let app = app().await;
    let (s, _) = app.ingest(fleet()).await;
    assert_eq!(s, StatusCode::OK);
    app
}

/// The value of the sample written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

const FAMILIES: [&str; 18] = [
    "observatory_executions_total",
    "observatory_execution_duration_seconds",
    "observatory_agents_active",
    "observatory_llm_requests_total",
    "observatory_llm_tokens_total",
    "observatory_llm_token_parts_total",
    "observatory_llm_latency_seconds",
    "observatory_llm_cost_usd_total",
    "observatory_tool_calls_total",
    "observatory_tool_errors_total",
    "observatory_websocket_connections",
    "observatory_ingest_events_accepted_total",
    "observatory_ingest_events_rejected_total",
    "observatory_ingest_queue_depth",
    "observatory_ingest_queue_capacity",
    "observatory_store_bytes",
    "observatory_alerts_firing",
    "observatory_build_info",
];

#[tokio::test]
async fn the_fleet_shows_in_the_prometheus_text() {
    let app = fleet_app().await;
    let (s, ct, t) = scrape(&app, "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    for f in FAMILIES {
        assert!(t.contains(&format!("# TYPE {f} ")), "family {f} is missing:\n{t}");
    }
    let v = |series| value(&t, series);
    assert_eq!(
        v(r#"observatory_executions_total{agent="alpha",status="completed"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"observatory_executions_total{agent="beta",status="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"observatory_execution_duration_seconds_count{agent="alpha"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"observatory_execution_duration_seconds_bucket{agent="beta",le="+Inf"}"#),
        Some(1.0)
    );
    assert_eq!(v("observatory_agents_active"), Some(2.0));
    assert_eq!(
        v(r#"observatory_llm_requests_total{provider="openai",model="gpt-4o",status="ok"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"observatory_llm_tokens_total{provider="openai",model="gpt-4o",type="input"}"#),
        Some(1000.0)
    );
    assert_eq!(
        v(r#"observatory_llm_tokens_total{provider="openai",model="gpt-4o",type="output"}"#),
        Some(200.0)
    );
    for (kind, n) in [("cache_read", 600.0), ("cache_creation", 0.0), ("reasoning", 50.0)] {
        let series = format!(r#"observatory_llm_token_parts_total{{provider="openai",model="gpt-4o",type="{kind}"}}"#);
        assert_eq!(value(&t, &series), Some(n), "{kind}");
    }
    assert_eq!(
        v(r#"observatory_llm_latency_seconds_bucket{provider="openai",model="gpt-4o",le="0.5"}"#),
        Some(0.0)
    );
    assert_eq!(
        v(r#"observatory_llm_latency_seconds_bucket{provider="openai",model="gpt-4o",le="1"}"#),
        Some(1.0)
    );
    assert!(v(r#"observatory_llm_cost_usd_total{provider="openai",model="gpt-4o"}"#).unwrap() > 0.0);
    assert_eq!(v(r#"observatory_tool_calls_total{tool="vector_db"}"#), Some(1.0));
    assert_eq!(v(r#"observatory_tool_errors_total{tool="vector_db"}"#), Some(0.0));
    assert_eq!(v("observatory_ingest_events_accepted_total"), Some(15.0));
    assert_eq!(
        v(r#"observatory_ingest_events_rejected_total{reason="validation"}"#),
        Some(0.0)
    );
    assert_eq!(v("observatory_websocket_connections"), Some(0.0));
    assert_eq!(v(r#"observatory_alerts_firing{severity="critical"}"#), Some(0.0));
    assert!(v("observatory_store_bytes").unwrap() > 0.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        v(&format!(r#"observatory_build_info{{version="{version}"}}"#)),
        Some(1.0)
    );
}

#[tokio::test]
async fn promtool_accepts_the_exposition() {
    let app = fleet_app().await;
    let (_, _, t) = scrape(&app, "/metrics", None).await;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool is not installed ({e}): run scripts/setup.sh or `apt-get install prometheus` \
             to check the /metrics output"
        ),
    };
    child.stdin.take().unwrap().write_all(t.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- output ---\n{t}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn prometheus_asking_for_openmetrics_gets_it() {
    let app = fleet_app().await;
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (s, ct, t) = scrape(&app, "/metrics", Some(accept)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(t.contains("# TYPE observatory_executions counter\n"), "{t}");
    assert!(
        t.contains("# UNIT observatory_execution_duration_seconds seconds\n"),
        "{t}"
    );
    assert!(t.contains("# TYPE observatory_build info\n"), "{t}");
    assert!(
        t.contains("observatory_tool_calls_total{tool=\"vector_db\"} 1\n"),
        "{t}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        t.contains(&format!("observatory_build_info{{version=\"{version}\"}} 1\n")),
        "{t}"
    );
    assert!(t.ends_with("# EOF\n"), "{t}");
}

#[tokio::test]
async fn the_json_view_has_the_same_families() {
    let app = fleet_app().await;
    let (_, body) = app.get("/metrics/json").await;
    let (_, _, t) = scrape(&app, "/metrics", None).await;
    let from_text: std::collections::BTreeSet<String> = t
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .map(|n| {
            n.strip_suffix("_total")
                .or(n.strip_suffix("_info"))
                .unwrap_or(&n)
                .to_string()
        })
        .collect();
    let from_json: std::collections::BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(from_text, from_json);
    let runs = &body["observatory_executions"];
    assert_eq!(runs["type"], "counter");
    let alpha = runs["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["labels"]["agent"] == "alpha" && s["labels"]["status"] == "completed")
        .unwrap();
    assert_eq!(alpha["value"], 1.0);
    let latency = &body["observatory_llm_latency_seconds"];
    assert_eq!(latency["type"], "histogram");
    assert_eq!(latency["unit"], "seconds");
    let s = &latency["samples"][0];
    assert_eq!(s["count"], 1);
    assert_eq!(
        s["buckets"].as_array().unwrap().last().unwrap(),
        &serde_json::json!({"le": "+Inf", "count": 1})
    );
    assert_eq!(body["observatory_build"]["type"], "info");
}

#[tokio::test]
async fn rejections_are_counted_by_reason() {
    let app = app_with(|c| c.max_body_bytes = 200).await;
    let (s, _) = app
        .ingest(serde_json::json!([{"type": "log", "execution_id": "e"}, {"type": "log", "execution_id": "e"}]))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.post("/api/v1/events", "text/csv", "a,b").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = app.post("/api/v1/events", "application/json", "x".repeat(500)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = app.post("/api/v1/events", "application/json", "[{").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.post("/v1/traces", "application/json", "{nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (_, _, t) = scrape(&app, "/metrics", None).await;
    let rejected = |reason: &str| {
        value(
            &t,
            &format!(r#"observatory_ingest_events_rejected_total{{reason="{reason}"}}"#),
        )
    };
    assert_eq!(rejected("validation"), Some(2.0));
    assert_eq!(rejected("unsupported_media_type"), Some(1.0));
    assert_eq!(rejected("too_large"), Some(1.0));
    assert_eq!(rejected("malformed"), Some(2.0));
    assert_eq!(rejected("overloaded"), Some(0.0));
    let (_, health) = app.get("/api/health").await;
    assert_eq!(
        health["ingest"]["events_rejected"], 4,
        "validation and malformed, as before"
    );
}

/// Runs `promtool` with `args` on a file holding `input`; panics with its output on failure.
fn promtool(args: &[&str], input: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, input).unwrap();
    let out = Command::new("promtool")
        .args(args)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("promtool is not installed ({e}): run scripts/setup.sh"));
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}\n--- input ---\n{input}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_grafana_dashboard_queries_parse_and_name_real_families() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../docs/grafana/observatory.json")).expect("dashboard is JSON");
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| {
            t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
                .replace("$agent", ".*")
        })
        .collect();
    assert!(exprs.len() >= 10);

    // Every expression is valid PromQL (promtool parses recording rules).
    let rules: String = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| format!("      - record: dashboard:query{i}\n        expr: '{e}'\n"))
        .collect();
    promtool(
        &["check", "rules"],
        &format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
        "rules.yml",
    );

    // Every metric a query names is one /metrics serves.
    let app = fleet_app().await;
    let (_, _, t) = scrape(&app, "/metrics", None).await;
    for e in &exprs {
        for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("observatory_") {
                assert!(
                    t.contains(&format!("\n{word}")),
                    "the dashboard queries {word}, which /metrics lacks"
                );
            }
        }
    }
}

/// A real Prometheus server (Debian's `prometheus`) scrapes a running Observatory, with a
/// viewer's bearer token, and can query what it scraped.
#[tokio::test]
async fn prometheus_scrapes_observatory_with_a_token() {
    use observatory::server::auth::{hash_token, Role, TokenConfig};
    use observatory::server::{AppState, Config, DashboardServer};
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        otlp_grpc_listen: None,
        ..Config::default()
    };
    config.auth.tokens = vec![TokenConfig {
        name: "prometheus".into(),
        role: Role::Viewer,
        sha256: hash_token("scrape-secret"),
    }];
    config.auth.tokens.push(TokenConfig {
        name: "loader".into(),
        role: Role::Ingest,
        sha256: hash_token("ingest-secret"),
    });
    let state = AppState::open(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(DashboardServer::from_state(state).serve_with(listener, None, std::future::pending()));
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{target}/api/v1/events"))
        .bearer_auth("ingest-secret")
        .json(&fleet())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "scrape-secret").unwrap();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: observatory\n    authorization:\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{target}\"]\n",
            token_file.display()
        ),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus runs (Debian package `prometheus`, installed by scripts/setup.sh)");
    let query = |q: &'static str| {
        let client = client.clone();
        async move {
            let resp = client
                .get(format!("http://127.0.0.1:{port}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?;
            let v: serde_json::Value = resp.json().await.ok()?;
            v["data"]["result"][0]["value"][1].as_str().map(String::from)
        }
    };
    let mut seen = None;
    for _ in 0..120 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        if let Some(v) = query("sum(observatory_executions_total)").await {
            seen = Some(v);
            break;
        }
    }
    let up = query("up{job=\"observatory\"}").await;
    let tokens = query("sum(observatory_llm_tokens_total)").await;
    prometheus.kill().unwrap();
    let _ = prometheus.wait();
    assert_eq!(seen.as_deref(), Some("2"), "Prometheus never scraped the executions");
    assert_eq!(up.as_deref(), Some("1"));
    assert_eq!(tokens.as_deref(), Some("1200"));
}
