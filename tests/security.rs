//! Authentication, roles, and the hardening around them (origins, headers, limits,
//! redaction), through the real router.
//!
//! The table test walks every route (a test reads the route definitions and fails when one is
//! missing from the table) with every role and with none, and proves that nothing is reachable
//! without the right role.

mod common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{app_with, fleet, split, TestApp};
use observatory::server::auth::{hash_token, Role, TokenConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

const ROLES: [(Role, &str); 4] = [
    (Role::Viewer, "viewer-token"),
    (Role::Operator, "operator-token"),
    (Role::Ingest, "ingest-token"),
    (Role::Admin, "admin-token"),
];

async fn secured(tweak: impl FnOnce(&mut observatory::server::Config)) -> TestApp {
    app_with(|c| {
        c.auth.tokens = ROLES
            .iter()
            .map(|(role, token)| TokenConfig {
                name: format!("{}-user", role.as_str()),
                role: *role,
                sha256: hash_token(token),
            })
            .collect();
        tweak(c);
    })
    .await
}

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: &Req,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Req::Empty => req.body(Body::empty()),
        Req::Json(v) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string())),
        Req::Form(f) => req
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(f.to_string())),
    }
    .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let headers = resp.headers().clone();
    let (s, v) = split(resp).await;
    (s, v, headers)
}

enum Req {
    Empty,
    Json(Value),
    Form(&'static str),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Need {
    Public,
    Read,
    Operate,
    Ingest,
}

fn allowed(need: Need, role: Role) -> bool {
    match need {
        Need::Public => true,
        Need::Read => matches!(role, Role::Viewer | Role::Operator | Role::Admin),
        Need::Operate => matches!(role, Role::Operator | Role::Admin),
        Need::Ingest => matches!(role, Role::Ingest | Role::Admin),
    }
}

/// (route pattern as defined, method, concrete uri, body, what it needs)
#[rustfmt::skip]
fn table() -> Vec<(&'static str, Method, &'static str, Req, Need)> {
    use Need::*;
    let ack = || Req::Json(json!({"by": "x", "note": "n"}));
    let silence = || Req::Json(json!({"matchers": {"agent": "alpha"}, "duration_minutes": 5, "created_by": "x"}));
    let otlp = || Req::Json(json!({}));
    vec![
        ("/health", Method::GET, "/health", Req::Empty, Public),
        ("/health/live", Method::GET, "/health/live", Req::Empty, Public),
        ("/health/ready", Method::GET, "/health/ready", Req::Empty, Public),
        ("/api/auth/me", Method::GET, "/api/auth/me", Req::Empty, Public),
        ("/api/auth/logout", Method::POST, "/api/auth/logout", Req::Empty, Public),
        ("/api/auth/login", Method::POST, "/api/auth/login", Req::Json(json!({"token": "viewer-token"})), Public),
        ("/api/overview", Method::GET, "/api/overview", Req::Empty, Read),
        ("/api/metrics", Method::GET, "/api/metrics", Req::Empty, Read),
        ("/api/agents", Method::GET, "/api/agents", Req::Empty, Read),
        ("/api/ingest/health", Method::GET, "/api/ingest/health", Req::Empty, Read),
        ("/api/agents/{id}", Method::GET, "/api/agents/alpha", Req::Empty, Read),
        ("/api/agents/{id}/series", Method::GET, "/api/agents/alpha/series", Req::Empty, Read),
        ("/api/workflows", Method::GET, "/api/workflows", Req::Empty, Read),
        ("/api/workflows/{id}", Method::GET, "/api/workflows/wf", Req::Empty, Read),
        ("/api/series", Method::GET, "/api/series?range=1h", Req::Empty, Read),
        ("/api/executions", Method::GET, "/api/executions", Req::Empty, Read),
        ("/api/executions/{id}", Method::GET, "/api/executions/e1", Req::Empty, Read),
        ("/api/executions/{id}/logs", Method::GET, "/api/executions/e1/logs", Req::Empty, Read),
        ("/api/executions/{id}/spans", Method::GET, "/api/executions/e1/spans", Req::Empty, Read),
        ("/api/executions/export", Method::GET, "/api/executions/export?format=csv", Req::Empty, Read),
        ("/api/sessions", Method::GET, "/api/sessions", Req::Empty, Read),
        ("/api/sessions/{id}", Method::GET, "/api/sessions/s1", Req::Empty, Read),
        ("/api/users", Method::GET, "/api/users", Req::Empty, Read),
        ("/api/users/{id}", Method::GET, "/api/users/u1", Req::Empty, Read),
        ("/api/environments", Method::GET, "/api/environments", Req::Empty, Read),
        ("/api/views", Method::GET, "/api/views", Req::Empty, Read),
        ("/api/views", Method::POST, "/api/views", Req::Json(json!({"name": "v", "query": "agent:a"})), Operate),
        ("/api/views/{name}", Method::DELETE, "/api/views/v", Req::Empty, Operate),
        ("/api/llm", Method::GET, "/api/llm", Req::Empty, Read),
        ("/api/plugins", Method::GET, "/api/plugins", Req::Empty, Read),
        ("/api/system", Method::GET, "/api/system", Req::Empty, Read),
        ("/api/health", Method::GET, "/api/health", Req::Empty, Read),
        ("/api/alerts", Method::GET, "/api/alerts", Req::Empty, Read),
        ("/api/silences", Method::GET, "/api/silences", Req::Empty, Read),
        ("/api/{*rest}", Method::GET, "/api/nothing-here", Req::Empty, Read),
        ("/api/alerts/{id}/ack", Method::POST, "/api/alerts/a1/ack", ack(), Operate),
        ("/api/alerts/{id}/unack", Method::POST, "/api/alerts/a1/unack", Req::Json(json!({"by": "x"})), Operate),
        ("/api/silences", Method::POST, "/api/silences", silence(), Operate),
        ("/api/silences/preview", Method::POST, "/api/silences/preview", Req::Json(json!({"agent": "alpha"})), Read),
        ("/api/silences/{id}", Method::DELETE, "/api/silences/s1?by=x", Req::Empty, Operate),
        ("/api/v1/events", Method::POST, "/api/v1/events", Req::Json(json!([])), Ingest),
        ("/v1/traces", Method::POST, "/v1/traces", otlp(), Ingest),
        ("/v1/logs", Method::POST, "/v1/logs", otlp(), Ingest),
        ("/v1/metrics", Method::POST, "/v1/metrics", otlp(), Ingest),
        ("/metrics", Method::GET, "/metrics", Req::Empty, Read),
        ("/metrics/json", Method::GET, "/metrics/json", Req::Empty, Read),
        ("/ws", Method::GET, "/ws", Req::Empty, Read),
        ("/api/fn/{*fn_name}", Method::POST, "/api/fn/overview", Req::Form(""), Read),
        ("fn overview", Method::POST, "/api/fn/overview", Req::Form(""), Read),
        ("fn series", Method::POST, "/api/fn/series", Req::Form("range=1h"), Read),
        ("fn agent/series", Method::POST, "/api/fn/agent/series", Req::Form("id=alpha&range=1h"), Read),
        ("fn workflow", Method::POST, "/api/fn/workflow", Req::Form("id=wf"), Read),
        ("fn agents", Method::POST, "/api/fn/agents", Req::Form(""), Read),
        ("fn agent", Method::POST, "/api/fn/agent", Req::Form("id=alpha"), Read),
        ("fn executions", Method::POST, "/api/fn/executions", Req::Form(""), Read),
        ("fn execution", Method::POST, "/api/fn/execution", Req::Form("id=e1"), Read),
        ("fn spans", Method::POST, "/api/fn/spans", Req::Form("id=e1"), Read),
        ("fn alerts", Method::POST, "/api/fn/alerts", Req::Form(""), Read),
        ("fn health", Method::POST, "/api/fn/health", Req::Form(""), Read),
        ("fn ingest_health", Method::POST, "/api/fn/ingest_health", Req::Form(""), Read),
        ("fn alerts/ack", Method::POST, "/api/fn/alerts/ack", Req::Form("id=a1&by=x&note=n"), Operate),
        ("fn alerts/unack", Method::POST, "/api/fn/alerts/unack", Req::Form("id=a1&by=x"), Operate),
        ("fn silences/create", Method::POST, "/api/fn/silences/create", silence(), Operate),
        ("fn silences/preview", Method::POST, "/api/fn/silences/preview", Req::Json(json!({"matchers": {}})), Read),
        ("fn silences/expire", Method::POST, "/api/fn/silences/expire", Req::Form("id=s1&by=x"), Operate),
        ("fn groups", Method::POST, "/api/fn/groups", Req::Form("by=session&offset=0&limit=10"), Read),
        ("fn group", Method::POST, "/api/fn/group", Req::Form("by=user&id=u1"), Read),
        ("fn environments", Method::POST, "/api/fn/environments", Req::Form(""), Read),
        ("fn views", Method::POST, "/api/fn/views", Req::Form(""), Read),
        ("fn views/save", Method::POST, "/api/fn/views/save", Req::Form("name=v&query=agent%3Aa"), Operate),
        ("fn views/delete", Method::POST, "/api/fn/views/delete", Req::Form("name=v"), Operate),
        ("fallback (the app shell)", Method::GET, "/agents", Req::Empty, Public),
    ]
}

/// Every `.route("…")` in the server and every server function endpoint.
fn defined_routes() -> Vec<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src/server/routes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root.join("src/server/otlp/http.rs"));
    let mut routes = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for part in text.split(".route(\"").skip(1) {
            routes.push(part.split('"').next().unwrap().to_string());
        }
    }
    let api = std::fs::read_to_string(root.join("src/api/mod.rs")).unwrap();
    for part in api.split("endpoint = \"").skip(1) {
        routes.push(format!("fn {}", part.split('"').next().unwrap()));
    }
    routes
}

#[test]
fn the_table_covers_every_route() {
    let table: Vec<&str> = table().iter().map(|(pattern, ..)| *pattern).collect();
    let defined = defined_routes();
    assert!(defined.len() > 40, "found only {defined:?}");
    for route in defined {
        assert!(
            table.contains(&route.as_str()),
            "route `{route}` is not in the auth table"
        );
    }
}

#[tokio::test]
async fn every_route_with_every_role_and_with_none() {
    let app = secured(|_| {}).await;
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/api/v1/events",
        Some("admin-token"),
        &Req::Json(fleet()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for (pattern, method, uri, body, need) in table() {
        // Without credentials.
        let (s, v, headers) = call(&app, method.clone(), uri, None, &body).await;
        if need == Need::Public {
            assert!(
                !matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{pattern} anonymous: {s} {v}"
            );
        } else {
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{pattern} anonymous: {v}");
            // OTLP/HTTP answers a google.rpc.Status: UNAUTHENTICATED.
            let code = if uri.starts_with("/v1/") {
                json!(16)
            } else {
                json!("unauthorized")
            };
            assert_eq!(v["code"], code, "{pattern}: {v}");
            assert!(
                v.get("items").is_none() && v.get("agents_total").is_none(),
                "{pattern} leaked {v}"
            );
            assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{pattern}");
        }
        // With a wrong token.
        let (s, v, _) = call(&app, method.clone(), uri, Some("not-a-token"), &body).await;
        if need != Need::Public {
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{pattern} bad token: {v}");
        }
        for (role, token) in ROLES {
            let (s, v, _) = call(&app, method.clone(), uri, Some(token), &body).await;
            if allowed(need, role) {
                assert!(
                    !matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                    "{pattern} as {role:?} was refused: {s} {v}"
                );
            } else {
                assert_eq!(s, StatusCode::FORBIDDEN, "{pattern} as {role:?}: {v}");
                // OTLP/HTTP answers a google.rpc.Status: PERMISSION_DENIED.
                let code = if uri.starts_with("/v1/") {
                    json!(7)
                } else {
                    json!("forbidden")
                };
                assert_eq!(v["code"], code, "{pattern} as {role:?}: {v}");
                assert!(v["message"].as_str().unwrap().contains(role.as_str()), "{v}");
            }
        }
    }
}

#[tokio::test]
async fn the_browser_signs_in_once_and_out_again() {
    let app = secured(|_| {}).await;
    let login = |token: &str, tls: bool| {
        let mut req = Request::post("/api/auth/login").header(header::CONTENT_TYPE, "application/json");
        if tls {
            req = req.header("x-forwarded-proto", "https");
        }
        req.body(Body::from(json!({ "token": token }).to_string())).unwrap()
    };
    let resp = app.router.clone().oneshot(login("nope", false)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp.headers().contains_key(header::SET_COOKIE));

    let resp = app.router.clone().oneshot(login("viewer-token", false)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains("viewer-token"));
    let (_, me) = split(resp).await;
    assert_eq!(me["principal"]["role"], "viewer");
    let session = cookie.split(';').next().unwrap().to_string();

    let with_cookie = |method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, &session)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"by": "x", "note": "n"}).to_string()))
            .unwrap()
    };
    let (s, _) = app.send(with_cookie(Method::GET, "/api/agents")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, me) = app.send(with_cookie(Method::GET, "/api/auth/me")).await;
    assert_eq!(
        (s, me["principal"]["name"].as_str()),
        (StatusCode::OK, Some("viewer-user"))
    );
    // A viewer's session cannot acknowledge.
    let (s, v) = app.send(with_cookie(Method::POST, "/api/alerts/a1/ack")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    let resp = app
        .router
        .clone()
        .oneshot(with_cookie(Method::POST, "/api/auth/logout"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (s, _) = app.send(with_cookie(Method::GET, "/api/agents")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let resp = app.router.clone().oneshot(login("operator-token", true)).await.unwrap();
    assert!(resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("; Secure"));
}

#[tokio::test]
async fn actions_are_recorded_under_the_signed_in_name() {
    let app = secured(|_| {}).await;
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/api/silences",
        Some("operator-token"),
        &Req::Json(json!({"matchers": {"agent": "alpha"}, "duration_minutes": 5, "created_by": "mallory"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v, _) = call(&app, Method::GET, "/api/silences", Some("viewer-token"), &Req::Empty).await;
    assert_eq!(v[0]["created_by"], "operator-user", "{v}");
}

/// The status of a WebSocket upgrade sent from another site's page.
async fn upgrade_from_elsewhere(app: &TestApp) -> StatusCode {
    let ws = Request::get("/ws")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "upgrade")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Body::empty())
        .unwrap();
    app.router.clone().oneshot(ws).await.unwrap().status()
}

#[tokio::test]
async fn cross_origin_changes_and_websockets_are_refused() {
    let app = app_with(|c| c.cors_origins = vec!["https://ops.example.com".into()]).await;
    let post = |origin: &str| {
        Request::post("/api/silences/preview")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    let (s, v) = app.send(post("http://evil.example")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["message"].as_str().unwrap().contains("evil.example"));
    for origin in ["http://127.0.0.1:8080", "https://ops.example.com"] {
        let (s, v) = app.send(post(origin)).await;
        assert_eq!(s, StatusCode::OK, "{origin}: {v}");
    }
    assert_eq!(upgrade_from_elsewhere(&app).await, StatusCode::FORBIDDEN);
    // Reads from anywhere are harmless without credentials (and CORS keeps their answers
    // from other origins' scripts).
    let get = Request::get("/api/agents")
        .header(header::ORIGIN, "http://evil.example")
        .body(Body::empty())
        .unwrap();
    let resp = app.router.clone().oneshot(get).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!resp.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = common::app().await;
    for uri in ["/", "/api/agents", "/health"] {
        let resp = app
            .router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let h = resp.headers();
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("'wasm-unsafe-eval'"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"));
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert!(h.contains_key("x-request-id"), "{uri}");
    }
}

#[tokio::test]
async fn ingest_is_rate_limited_per_token_and_counted() {
    let app = secured(|c| c.ingest_rate_limit = 2).await;
    let batch = Req::Json(json!([{"type": "agent", "id": "a"}]));
    for _ in 0..2 {
        let (s, v, _) = call(&app, Method::POST, "/api/v1/events", Some("ingest-token"), &batch).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v, headers) = call(&app, Method::POST, "/api/v1/events", Some("ingest-token"), &batch).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["code"], "too_many_requests");
    assert!(v["message"].as_str().unwrap().contains("2 requests/s"), "{v}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Another token has its own budget.
    let (s, _, _) = call(&app, Method::POST, "/api/v1/events", Some("admin-token"), &batch).await;
    assert_eq!(s, StatusCode::OK);
    let (_, metrics, _) = call(&app, Method::GET, "/metrics", Some("viewer-token"), &Req::Empty).await;
    let text = metrics.as_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("observatory_ingest_events_rejected_total{reason=\"rate_limited\"} 1")),
        "{text}"
    );
}

#[tokio::test]
async fn sensitive_attributes_are_redacted_before_storage() {
    let app = common::app().await;
    let (s, v) = app
        .ingest(json!([
            {"type": "execution", "id": "r1", "agent_id": "a", "status": "RUNNING"},
            {"type": "log", "execution_id": "r1", "message": "calling", "attributes": {"api_key": "sk-live-123", "http.request.header.authorization": "Bearer abc", "attempt": 2, "gen_ai.usage.input_tokens": 10}},
            {"type": "agent", "id": "a", "labels": {"db_password": "hunter2", "team": "x"}}
        ]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, logs) = app.get("/api/executions/r1/logs").await;
    let attrs = &logs[0]["attributes"];
    assert_eq!(attrs["api_key"], "[REDACTED]", "{logs}");
    assert_eq!(attrs["http.request.header.authorization"], "[REDACTED]");
    assert_eq!(
        (attrs["attempt"].as_i64(), attrs["gen_ai.usage.input_tokens"].as_i64()),
        (Some(2), Some(10))
    );
    let (_, agent) = app.get("/api/agents/a").await;
    assert_eq!(agent["agent"]["labels"]["db_password"], "[REDACTED]");
    assert_eq!(agent["agent"]["labels"]["team"], "x");
    let everything = serde_json::to_string(&app.get("/api/executions/r1/logs").await.1).unwrap();
    assert!(!everything.contains("sk-live-123") && !everything.contains("hunter2"));
}

#[test]
fn exposed_without_tokens_the_server_refuses_to_start() {
    let config = observatory::server::Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("--insecure"), "{err}");
}

#[tokio::test]
async fn agents_past_the_cardinality_limit_are_stored_and_folded_into_one_live_agent() {
    let app = app_with(|c| c.limits.max_agents = 2).await;
    let (s, _) = app
        .ingest(json!([{"type": "agent", "id": "a1"}, {"type": "agent", "id": "a2"}]))
        .await;
    assert_eq!(s, StatusCode::OK);
    // A third and a fourth agent: every event is stored, the answer says what was folded.
    let (s, v) = app
        .ingest(json!([
            {"type": "execution", "id": "x1", "agent_id": "a1", "status": "RUNNING"},
            {"type": "execution", "id": "x2", "agent_id": "a3", "status": "RUNNING"},
            {"type": "execution", "id": "x3", "agent_id": "a4", "status": "RUNNING"},
            {"type": "log", "execution_id": "x3", "message": "kept"}
        ]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 4, "{v}");
    assert_eq!(v["folded"], 2, "{v}");
    assert!(v["warning"].as_str().unwrap().contains("max_agents"), "{v}");
    for (id, agent) in [("x1", "a1"), ("x2", "a3"), ("x3", "a4")] {
        let (s, e) = app.get(&format!("/api/executions/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{id}: {e}");
        assert_eq!(e["execution"]["agent_id"], agent, "an execution keeps its own agent");
    }
    let (_, logs) = app.get("/api/executions/x3/logs").await;
    assert_eq!(logs[0]["message"], "kept", "{logs}");
    let (_, agents) = app.get("/api/agents").await;
    let ids: Vec<String> = common::ids(&agents);
    assert_eq!(ids.len(), 3, "two agents and the overflow: {ids:?}");
    assert!(ids.iter().any(|id| id == "_overflow"), "{ids:?}");
    let overflow = common::find_item(&agents, "id", "_overflow");
    assert_eq!(overflow["tasks_in_progress"], 2, "{overflow}");
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("observatory_ingest_events_folded_total 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn with_auth_off_on_loopback_only_loopback_host_names_are_served() {
    let app = common::app().await;
    let get = |host: &str| {
        Request::get("/api/agents")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap()
    };
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "localhost",
        "[::1]:8080",
        "LOCALHOST:9",
    ] {
        let (s, v) = app.send(get(host)).await;
        assert_eq!(s, StatusCode::OK, "{host}: {v}");
    }
    // A DNS-rebinding page reaches the server under its own name.
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
    ] {
        let (s, v) = app.send(get(host)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{host}: {v}");
        assert!(v["message"].as_str().unwrap().contains(host), "names the host: {v}");
    }
    // With tokens configured, the token guards the server, whatever name it is reached by.
    let app = secured(|_| {}).await;
    let (s, v, _) = call(&app, Method::GET, "/api/agents", Some("viewer-token"), &Req::Empty).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let req = Request::get("/api/agents")
        .header(header::HOST, "observatory.example.com")
        .header(header::AUTHORIZATION, "Bearer viewer-token")
        .body(Body::empty())
        .unwrap();
    let (s, v) = app.send(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn cors_for_any_origin_never_admits_cookie_changes_or_websockets() {
    let app = app_with(|c| c.cors = true).await;
    let post = |bearer: bool| {
        let mut r = Request::post("/api/silences/preview")
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://evil.example")
            .header(header::CONTENT_TYPE, "application/json");
        if bearer {
            r = r.header(header::AUTHORIZATION, "Bearer some-token");
        }
        r.body(Body::from("{}")).unwrap()
    };
    let (s, v) = app.send(post(false)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a change carried by ambient credentials: {v}");
    let (s, v) = app.send(post(true)).await;
    assert_eq!(s, StatusCode::OK, "a bearer token is what `cors = true` is for: {v}");
    assert_eq!(upgrade_from_elsewhere(&app).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn failed_sign_ins_are_counted_and_past_ten_pause_sign_in() {
    let app = secured(|_| {}).await;
    let login = |token: &str| {
        Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "token": token }).to_string()))
            .unwrap()
    };
    for _ in 0..11 {
        let (s, _) = app.send(login("guess")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Even the right token waits now.
    let resp = app.router.clone().oneshot(login("viewer-token")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    let (_, v) = split(resp).await;
    assert!(
        v["message"].as_str().unwrap().contains("too many failed sign-ins"),
        "{v}"
    );
    // Bearer tokens on the API are not affected.
    let (s, _, _) = call(&app, Method::GET, "/api/agents", Some("viewer-token"), &Req::Empty).await;
    assert_eq!(s, StatusCode::OK);
    let (_, metrics, _) = call(&app, Method::GET, "/metrics", Some("viewer-token"), &Req::Empty).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("observatory_login_failures_total 11"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_websocket_opened_in_a_session_closes_when_it_signs_out() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = secured(|_| {}).await;
    let resp = app
        .router
        .clone()
        .oneshot(
            Request::post("/api/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(json!({ "token": "viewer-token" }).to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
    req.headers_mut().insert("cookie", session.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();

    let logout = Request::post("/api/auth/logout")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    let (s, _) = app.send(logout).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(m) = ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) = m {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    })
    .await
    .expect("the socket closes at sign-out");
    assert!(closed.unwrap_or_default().contains("session ended"));
}

#[tokio::test]
async fn a_session_survives_a_restart_and_a_signed_out_one_does_not() {
    let app = secured(|_| {}).await;
    let login = || {
        Request::post("/api/auth/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "token": "viewer-token" }).to_string()))
            .unwrap()
    };
    let session = |resp: &axum::response::Response| {
        let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
        cookie.split(';').next().unwrap().to_string()
    };
    let kept = session(&app.router.clone().oneshot(login()).await.unwrap());
    let ended = session(&app.router.clone().oneshot(login()).await.unwrap());
    let with = |cookie: &str, method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap()
    };
    let (s, _) = app.send(with(&ended, Method::POST, "/api/auth/logout")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // The same data directory, a new process's state.
    let config = app.state.config.as_ref().clone();
    let dir = app.dir;
    app.state.store.close().await;
    let again = TestApp::from_state(observatory::server::AppState::open(config).await.unwrap(), dir);
    let (s, me) = again.send(with(&kept, Method::GET, "/api/auth/me")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"]["name"], "viewer-user", "{me}");
    let (s, _) = again.send(with(&ended, Method::GET, "/api/agents")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a signed-out session stays out");
}
