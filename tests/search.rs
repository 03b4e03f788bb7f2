//! Finding runs end to end: an agent instrumented with the Rust OpenTelemetry SDK sends
//! conversations with session, user and environment attributes over OTLP/HTTP; the search
//! language, sessions, users, environments, saved views and every export format answer over
//! real HTTP, and the OTLP/JSON export replays into a second server span for span.

use observatory::server::{AppState, Config, DashboardServer};
use opentelemetry::trace::{Span as _, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::{json, Value};
use std::net::SocketAddr;

struct Server {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config {
        data_dir: dir.path().into(),
        otlp_grpc_listen: None,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(DashboardServer::from_state(state).serve_with(listener, None, std::future::pending()));
    Server { addr, _dir: dir }
}

async fn get(s: &Server, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("http://{}{path}", s.addr)).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn text(s: &Server, path: &str) -> (String, String) {
    let r = reqwest::get(format!("http://{}{path}", s.addr)).await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let kind = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
    (kind, r.text().await.unwrap())
}

/// Three turns of two conversations, as an agent framework instrumented with OpenTelemetry
/// sends them: the environment on the resource, session and user on each root span.
fn converse(addr: SocketAddr) {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{addr}/v1/traces"))
        .build()
        .unwrap();
    let resource = Resource::builder()
        .with_service_name("support-bot")
        .with_attribute(KeyValue::new("deployment.environment.name", "production"))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("search-test");
    let turns = [
        ("conv-1", "alice", "refund my order", "gpt-4o", None),
        (
            "conv-1",
            "alice",
            "where is the parcel",
            "gpt-4o-mini",
            Some("RateLimitError"),
        ),
        ("conv-2", "bob", "reset my password", "claude-sonnet", None),
    ];
    for (session, user, question, model, error) in turns {
        let mut root = tracer
            .span_builder("invoke_agent support")
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", "support"),
                KeyValue::new("session.id", session),
                KeyValue::new("user.id", user),
            ])
            .start(&tracer);
        let cx = Context::current().with_remote_span_context(root.span_context().clone());
        let mut chat = tracer
            .span_builder(format!("chat {model}"))
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", model),
                KeyValue::new("gen_ai.provider.name", "openai"),
                KeyValue::new("gen_ai.usage.input_tokens", 120),
                KeyValue::new("gen_ai.usage.output_tokens", 30),
                KeyValue::new(
                    "gen_ai.input.messages",
                    format!("[{{\"role\":\"user\",\"content\":\"{question}\"}}]"),
                ),
            ])
            .start_with_context(&tracer, &cx);
        if let Some(e) = error {
            chat.set_attribute(KeyValue::new("error.type", e));
            chat.set_status(Status::error("slow down"));
        }
        chat.end();
        root.end();
    }
    provider.shutdown().unwrap();
}

/// A server that has heard [`converse`] (the SDK's exporter blocks: on a thread of its own).
async fn start_with_conversations() -> Server {
    let server = start().await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || converse(addr)).await.unwrap();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_found_by_session_user_environment_model_error_and_text() {
    let server = start_with_conversations().await;

    let count = |q: &'static str| {
        let server = &server;
        async move {
            let (status, page) = get(server, &format!("/api/executions?q={}", urlencode(q))).await;
            assert_eq!(status, 200, "{q}: {page}");
            page["total"].as_u64().unwrap()
        }
    };
    assert_eq!(count("").await, 3);
    assert_eq!(count("session:conv-1").await, 2);
    assert_eq!(count("user:bob env:production").await, 1);
    assert_eq!(count("model:gpt-4o*").await, 2);
    assert_eq!(count("model:gpt-4o").await, 1);
    assert_eq!(count(r#"attr.gen_ai.request.model="claude-sonnet""#).await, 1);
    assert_eq!(count("error:RateLimit*").await, 1);
    assert_eq!(count(r#""parcel""#).await, 1);
    assert_eq!(count("password OR refund").await, 2);
    assert_eq!(count("NOT session:conv-1").await, 1);
    assert_eq!(count("env:staging").await, 0);
    // The environment switcher's scope is the same filter.
    let (_, page) = get(&server, "/api/executions?env=production&q=user:alice").await;
    assert_eq!(page["total"], 2);

    // Bad syntax: 400, the position and what was expected.
    let (status, err) = get(&server, &format!("/api/executions?q={}", urlencode("agent:a (model:x"))).await;
    assert_eq!(status, 400);
    assert_eq!(err["details"][0]["field"], "q");
    assert_eq!(err["details"][0]["index"], 16, "{err}");
    assert!(err["message"].as_str().unwrap().contains("`)`"), "{err}");

    // Sessions and users, with their totals.
    let (_, sessions) = get(&server, "/api/sessions").await;
    assert_eq!(sessions["total"], 2, "{sessions}");
    let conv1 = sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "conv-1")
        .unwrap();
    assert_eq!(conv1["executions"], 2);
    assert_eq!(conv1["tokens"], 300);
    assert_eq!(conv1["agents"], json!(["support"]));
    let (_, detail) = get(&server, "/api/sessions/conv-1").await;
    let turns = detail["executions"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert!(
        turns[0]["created_at"].as_i64() <= turns[1]["created_at"].as_i64(),
        "turns in order"
    );
    let (_, users) = get(&server, "/api/users?range=24h").await;
    assert_eq!(users["total"], 2);
    let (status, _) = get(&server, "/api/users/nobody").await;
    assert_eq!(status, 404);
    let (_, envs) = get(&server, "/api/environments").await;
    assert_eq!(envs, json!(["production"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_every_format_and_otlp_json_replays_span_for_span() {
    let server = start_with_conversations().await;

    let (kind, jsonl) = text(&server, "/api/executions/export?q=session:conv-1&format=jsonl").await;
    assert_eq!(kind, "application/x-ndjson");
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|x| x["session_id"] == "conv-1"));

    let (kind, csv) = text(&server, "/api/executions/export?format=csv").await;
    assert!(kind.starts_with("text/csv"));
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("id,agent_id,status,"));
    assert!(rows[1..].iter().all(|r| r.contains(",production,")), "{csv}");

    let (_, otlp) = text(&server, "/api/executions/export?format=otlp-json").await;
    assert_eq!(otlp.lines().count(), 3);
    // A second server takes the file as a collector would replay it.
    let other = start().await;
    let client = reqwest::Client::new();
    for line in otlp.lines() {
        let r = client
            .post(format!("http://{}/v1/traces", other.addr))
            .header("content-type", "application/json")
            .body(line.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let (_, a) = get(&server, "/api/executions?limit=10").await;
    let (_, b) = get(&other, "/api/executions?limit=10").await;
    assert_eq!(b["total"], 3);
    for x in a["items"].as_array().unwrap() {
        let id = x["id"].as_str().unwrap();
        let (_, mut sa) = get(&server, &format!("/api/executions/{id}/spans")).await;
        let (_, mut sb) = get(&other, &format!("/api/executions/{id}/spans")).await;
        for spans in [&mut sa, &mut sb] {
            for s in spans.as_array_mut().unwrap() {
                s.as_object_mut().unwrap().remove("service");
            }
        }
        assert_eq!(sa, sb, "execution {id}");
        let y = b["items"].as_array().unwrap().iter().find(|y| y["id"] == id).unwrap();
        for field in ["session_id", "user_id", "environment", "tokens_in", "status"] {
            assert_eq!(x[field], y[field], "{field} of {id}");
        }
    }

    // A bad query is refused before anything streams.
    let (status, _) = get(&server, "/api/executions/export?q=cost%3E").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn saved_views_are_kept_listed_and_deleted() {
    let server = start().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/views", server.addr);
    let r = client
        .post(&url)
        .json(&json!({"name": "Expensive failures", "query": "status:failed cost>0.5"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(&url)
        .json(&json!({"name": "broken", "query": "status:"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a view's query must parse");
    let (_, views) = get(&server, "/api/views").await;
    assert_eq!(views[0]["name"], "Expensive failures");
    assert_eq!(views[0]["query"], "status:failed cost>0.5");
    let r = client
        .delete(format!("{url}/Expensive%20failures"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, views) = get(&server, "/api/views").await;
    assert_eq!(views, json!([]));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
