//! OTLP ingestion end to end: the Rust OpenTelemetry SDK and its OTLP exporters (HTTP protobuf,
//! HTTP JSON, gRPC) against a real server, then what the REST API shows; and hand-made
//! requests for every way a request can be refused.

mod common;

use axum::http::StatusCode;
use common::{app_with, find_item, split, GatedStore};
use observatory::server::{AppState, Config, DashboardServer};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

struct Server {
    http: SocketAddr,
    grpc: SocketAddr,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn start_with(state: AppState, dir: tempfile::TempDir) -> Server {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (h, g) = (http.local_addr().unwrap(), grpc.local_addr().unwrap());
    let server = DashboardServer::from_state(state.clone());
    tokio::spawn(server.serve_with(http, Some(grpc), std::future::pending()));
    Server {
        http: h,
        grpc: g,
        state,
        _dir: dir,
    }
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
    start_with(state, dir).await
}

/// A server with auth on: each token is `{name}-secret`, of the role given.
async fn start_secured(tokens: &[(&str, observatory::server::auth::Role)], tweak: impl FnOnce(&mut Config)) -> Server {
    use observatory::server::auth::{hash_token, TokenConfig};
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().into(),
        otlp_grpc_listen: None,
        ..Config::default()
    };
    config.auth.tokens = tokens
        .iter()
        .map(|&(name, role)| TokenConfig {
            name: name.into(),
            role,
            sha256: hash_token(&format!("{name}-secret")),
        })
        .collect();
    tweak(&mut config);
    start_with(AppState::open(config).await.unwrap(), dir).await
}

/// An export request of one `invoke_agent` span.
fn one_span_request() -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let json = traces_json(vec![span_json(
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "invoke_agent a",
    )]);
    serde_json::from_str(&json).unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    HttpProtobuf,
    HttpJson,
    Grpc,
}

fn providers(server: &Server, transport: Transport, service: &str) -> (SdkTracerProvider, SdkLoggerProvider) {
    let resource = Resource::builder().with_service_name(service.to_string()).build();
    let (spans, logs) = match transport {
        Transport::HttpProtobuf | Transport::HttpJson => {
            let protocol = match transport {
                Transport::HttpJson => Protocol::HttpJson,
                _ => Protocol::HttpBinary,
            };
            let base = format!("http://{}", server.http);
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_compression(opentelemetry_otlp::Compression::Gzip)
                    .with_endpoint(format!("{base}/v1/traces"))
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_http()
                    .with_protocol(protocol)
                    .with_endpoint(format!("{base}/v1/logs"))
                    .build()
                    .unwrap(),
            )
        }
        Transport::Grpc => {
            let endpoint = format!("http://{}", server.grpc);
            (
                opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_compression(opentelemetry_otlp::Compression::Gzip)
                    .with_endpoint(endpoint.clone())
                    .build()
                    .unwrap(),
                opentelemetry_otlp::LogExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .build()
                    .unwrap(),
            )
        }
    };
    (
        SdkTracerProvider::builder()
            .with_simple_exporter(spans)
            .with_resource(resource.clone())
            .build(),
        SdkLoggerProvider::builder()
            .with_simple_exporter(logs)
            .with_resource(resource)
            .build(),
    )
}

/// An agent run as a GenAI-instrumented framework emits it: the `invoke_agent` root stays
/// open while two chats and a tool call end (and are exported), then it ends.
async fn agent_run_through(transport: Transport) {
    let server = start().await;
    let agent = format!("researcher-{transport:?}").to_lowercase();
    let (tracer_provider, logger_provider) = providers(&server, transport, "research-svc");

    // The simple processors export synchronously (block_on): run them off the async workers.
    let agent_name = agent.clone();
    let tp = tracer_provider.clone();
    let lp = logger_provider.clone();
    let (root_cx, trace_id) = tokio::task::spawn_blocking(move || {
        let tracer = tp.tracer("agent-framework");
        let root = tracer
            .span_builder("invoke_agent researcher")
            .with_kind(SpanKind::Internal)
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", agent_name),
                KeyValue::new("gen_ai.provider.name", "openai"),
            ])
            .start(&tracer);
        let cx = Context::current_with_span(root);
        for (i, tokens) in [(1, 1000i64), (2, 500)] {
            let mut chat = tracer
                .span_builder("chat gpt-4o")
                .with_kind(SpanKind::Client)
                .with_attributes(vec![
                    KeyValue::new("gen_ai.operation.name", "chat"),
                    KeyValue::new("gen_ai.provider.name", "openai"),
                    KeyValue::new("gen_ai.request.model", "gpt-4o"),
                    KeyValue::new("gen_ai.usage.input_tokens", tokens),
                    KeyValue::new("gen_ai.usage.output_tokens", 100i64),
                    KeyValue::new("gen_ai.usage.cache_read.input_tokens", tokens / 2),
                    KeyValue::new("gen_ai.usage.reasoning.output_tokens", 40i64),
                    KeyValue::new("gen_ai.response.finish_reasons", format!("stop-{i}")),
                ])
                .start_with_context(&tracer, &cx);
            chat.add_event(
                "gen_ai.user.message",
                vec![KeyValue::new("content", "find papers on agents")],
            );
            std::thread::sleep(Duration::from_millis(2));
            chat.end();
        }
        let mut tool = tracer
            .span_builder("execute_tool web_search")
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "execute_tool"),
                KeyValue::new("gen_ai.tool.name", "web_search"),
                KeyValue::new("error.type", "timeout"),
            ])
            .start_with_context(&tracer, &cx);
        tool.set_status(Status::error("search timed out"));
        tool.end();
        // A log record in the root span's context attaches to the execution.
        let _guard = cx.clone().attach();
        let logger = lp.logger("agent-framework");
        let mut record = logger.create_log_record();
        record.set_body(AnyValue::from("tool call timed out; retrying"));
        record.set_severity_number(Severity::Warn);
        logger.emit(record);
        let trace_id = cx.span().span_context().trace_id().to_string();
        (cx, trace_id)
    })
    .await
    .unwrap();

    // In flight: RUNNING as soon as the first spans arrived, before the root ended.
    let detail = get(server.http, &format!("/api/executions/{trace_id}")).await;
    assert_eq!(detail["execution"]["status"], "RUNNING", "{transport:?}: {detail}");
    assert_eq!(detail["execution"]["trace_id"], trace_id.as_str());
    assert_eq!(detail["execution"]["llm_calls"], 2);
    assert_eq!(detail["execution"]["tool_calls"], 1);
    assert_eq!(detail["execution"]["tokens_in"], 1500);
    let spans = get(server.http, &format!("/api/executions/{trace_id}/spans")).await;
    assert_eq!(spans.as_array().unwrap().len(), 3, "{transport:?}: {spans}");
    let logs = get(server.http, &format!("/api/executions/{trace_id}/logs")).await;
    assert_eq!(
        logs[0]["message"], "tool call timed out; retrying",
        "{transport:?}: {logs}"
    );
    assert_eq!(logs[0]["level"], "warn");
    // Until the root names the agent, the run waits under the service name.
    let fallback = get(server.http, "/api/agents/research-svc").await;
    assert_eq!(fallback["agent"]["tasks_in_progress"], 1, "{fallback}");

    tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(5));
        root_cx.span().end();
    })
    .await
    .unwrap();

    let detail = get(server.http, &format!("/api/executions/{trace_id}")).await;
    let e = &detail["execution"];
    assert_eq!(e["status"], "COMPLETED", "{transport:?}: {detail}");
    assert_eq!(e["agent_id"], agent.as_str(), "the root names the agent");
    assert!(e["duration_ms"].as_u64().unwrap() >= 5, "{e}");
    let a = get(server.http, &format!("/api/agents/{agent}")).await;
    assert_eq!(a["agent"]["tasks_completed"], 1, "{a}");
    assert_eq!(a["agent"]["tokens_in"], 1500);
    let (_, page) = ((), get(server.http, &format!("/api/executions?agent_id={agent}")).await);
    assert_eq!(page["total"], 1);
    // The service-name fallback had nothing else: it is gone, from memory and the store.
    let agents = get(server.http, "/api/agents").await;
    let ids: Vec<&str> = agents
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, [agent.as_str()], "{agents}");
    let stored = server.state.store.snapshot(0, Vec::new()).await.unwrap();
    assert!(stored.agents.iter().all(|a| a.id != "research-svc"));

    let spans = get(server.http, &format!("/api/executions/{trace_id}/spans")).await;
    let spans = spans.as_array().unwrap();
    assert_eq!(spans.len(), 4);
    let root = spans.iter().find(|s| s["parent_span_id"].is_null()).unwrap();
    assert_eq!(root["category"], "agent");
    assert_eq!(root["operation"], "invoke_agent");
    assert_eq!(root["agent_name"], agent.as_str());
    let chat = spans.iter().find(|s| s["category"] == "llm").unwrap();
    assert_eq!(chat["model"], "gpt-4o");
    assert_eq!(chat["provider"], "openai");
    assert_eq!(chat["span_kind"], "client");
    // Half the input came from the prompt cache, priced at gpt-4o's cached rate.
    let (input, cached) = (
        chat["tokens_in"].as_f64().unwrap(),
        chat["cache_read_tokens"].as_f64().unwrap(),
    );
    assert_eq!(cached * 2.0, input, "{chat}");
    assert_eq!(chat["reasoning_tokens"], 40);
    let cost = (input - cached) * 2.5e-6 + cached * 1.25e-6 + 100.0 * 10e-6;
    assert!((chat["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12, "{chat}");
    assert_eq!(chat["events"][0]["name"], "gen_ai.user.message");
    assert_eq!(chat["parent_span_id"], root["span_id"]);
    let tool = spans.iter().find(|s| s["category"] == "tool").unwrap();
    assert_eq!(tool["tool_name"], "web_search");
    assert_eq!(tool["status"], "error");
    assert_eq!(tool["status_message"], "search timed out");

    let llm = get(server.http, "/api/llm").await;
    let gpt = find_item(&llm, "id", "openai/gpt-4o");
    assert_eq!(gpt["total_requests"], 2);
    assert_eq!(gpt["prompt_tokens"], 1500);
    assert_eq!(gpt["completion_tokens"], 200);
    assert_eq!(
        (gpt["cache_read_tokens"].as_u64(), gpt["reasoning_tokens"].as_u64()),
        (Some(750), Some(80))
    );

    tokio::task::spawn_blocking(move || {
        let _ = tracer_provider.shutdown();
        let _ = logger_provider.shutdown();
    })
    .await
    .unwrap();
    assert_eq!(server.state.ingest.stats().events_rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_protobuf_exporter_shows_a_running_then_completed_execution() {
    agent_run_through(Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_exporter_shows_a_running_then_completed_execution() {
    agent_run_through(Transport::HttpJson).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_exporter_shows_a_running_then_completed_execution() {
    agent_run_through(Transport::Grpc).await;
}

// ---- hand-made requests -----------------------------------------------------------------

/// An agent service called by another service continues the caller's trace: its root span
/// here has a remote parent. When that span ends the execution completes, though the trace's
/// own root is in a service that does not report here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_started_from_propagated_context_completes_when_its_local_root_ends() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let server = start().await;
    let (tracer_provider, logger_provider) = providers(&server, Transport::HttpProtobuf, "planner-svc");
    let (trace, caller) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    tokio::task::spawn_blocking(move || {
        let tracer = tracer_provider.tracer("agent-framework");
        // What the caller's W3C `traceparent` header is extracted to.
        let upstream = SpanContext::new(
            TraceId::from_hex(trace).unwrap(),
            SpanId::from_hex(caller).unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let root = tracer
            .span_builder("invoke_agent planner")
            .with_kind(SpanKind::Server)
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", "planner"),
            ])
            .start_with_context(&tracer, &Context::new().with_remote_span_context(upstream));
        let cx = Context::current_with_span(root);
        tracer
            .span_builder("chat gpt-4o")
            .with_kind(SpanKind::Client)
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.request.model", "gpt-4o"),
                KeyValue::new("gen_ai.usage.input_tokens", 700i64),
            ])
            .start_with_context(&tracer, &cx)
            .end();
        cx.span().end();
        let _ = tracer_provider.shutdown();
        let _ = logger_provider.shutdown();
    })
    .await
    .unwrap();

    let detail = get(server.http, &format!("/api/executions/{trace}")).await;
    let e = &detail["execution"];
    assert_eq!(e["status"], "COMPLETED", "{detail}");
    assert_eq!(e["agent_id"], "planner", "{detail}");
    assert_eq!((e["llm_calls"].as_u64(), e["tokens_in"].as_u64()), (Some(1), Some(700)));
    let spans = get(server.http, &format!("/api/executions/{trace}/spans")).await;
    let root = find_item(&spans, "name", "invoke_agent planner");
    assert_eq!(
        (root["remote_parent"].as_bool(), root["parent_span_id"].as_str()),
        (Some(true), Some(caller)),
        "{root}"
    );
}

fn span_json(trace: &str, span: &str, name: &str) -> Value {
    json!({"traceId": trace, "spanId": span, "name": name, "kind": 1,
           "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000000100000000u64})
}

fn traces_json(spans: Vec<Value>) -> String {
    json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                              "scopeSpans": [{"spans": spans}]}]})
    .to_string()
}

#[tokio::test]
async fn json_answers_in_json_with_partial_success_for_refused_spans() {
    let app = app_with(|_| {}).await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let body = traces_json(vec![
        span_json(trace, "b7ad6b7169203331", "invoke_agent a"),
        span_json("00000000000000000000000000000000", "b7ad6b7169203332", "bad"),
    ]);
    let (s, v) = app.post("/v1/traces", "application/json", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
    assert!(v["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("trace_id must be 16 bytes"));
    let (_, e) = app.get(&format!("/api/executions/{trace}")).await;
    assert_eq!(e["execution"]["status"], "COMPLETED");
    assert_eq!(e["execution"]["agent_id"], "svc");

    // Nothing refused: an empty object.
    let body = traces_json(vec![span_json(trace, "b7ad6b7169203333", "chat m")]);
    let (s, v) = app.post("/v1/traces", "application/json", body).await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    let (_, spans) = app.get(&format!("/api/executions/{trace}/spans")).await;
    assert_eq!(spans.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn spans_of_agents_past_the_limit_are_stored_with_a_warning_not_refused() {
    let app = app_with(|c| c.limits.max_agents = 1).await;
    let agent_span = |trace: &str, span: &str, agent: &str| {
        let mut s = span_json(trace, span, &format!("invoke_agent {agent}"));
        s["attributes"] = json!([{"key": "gen_ai.agent.id", "value": {"stringValue": agent}},
                                 {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]);
        s
    };
    let (t1, t2) = ("0af7651916cd43dd8448eb211c80319c", "1af7651916cd43dd8448eb211c80319c");
    let (s, v) = app
        .post(
            "/v1/traces",
            "application/json",
            traces_json(vec![agent_span(t1, "b7ad6b7169203331", "first")]),
        )
        .await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    let (s, v) = app
        .post(
            "/v1/traces",
            "application/json",
            traces_json(vec![agent_span(t2, "b7ad6b7169203332", "second")]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // OTLP's warning: a partial success that rejects nothing.
    assert_eq!(v["partialSuccess"]["rejectedSpans"].as_str().unwrap_or("0"), "0", "{v}");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("max_agents"),
        "{v}"
    );
    let (s, e) = app.get(&format!("/api/executions/{t2}")).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["execution"]["agent_id"], "second");
    let (_, spans) = app.get(&format!("/api/executions/{t2}/spans")).await;
    assert_eq!(spans.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn protobuf_answers_in_protobuf() {
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
    use prost::Message;
    let app = app_with(|_| {}).await;
    let json = traces_json(vec![
        span_json("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "a"),
        span_json("0af7651916cd43dd8448eb211c80319c", "", "no span id"),
    ]);
    let req: ExportTraceServiceRequest = serde_json::from_str(&json).unwrap();
    let resp = tower::ServiceExt::oneshot(
        app.router.clone(),
        axum::http::Request::post("/v1/traces")
            .header("content-type", "application/x-protobuf")
            .body(axum::body::Body::from(req.encode_to_vec()))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let decoded = ExportTraceServiceResponse::decode(bytes).unwrap();
    assert_eq!(decoded.partial_success.unwrap().rejected_spans, 1);
}

#[tokio::test]
async fn undecodable_bodies_are_400_with_a_reason_and_wrong_types_415() {
    let app = app_with(|_| {}).await;
    let (s, v) = app
        .post("/v1/traces", "application/x-protobuf", vec![0xffu8, 0xff, 0xff])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // google.rpc.Status in protobuf: field 2 is the message.
    assert!(v.as_str().unwrap().contains("undecodable OTLP protobuf"), "{v}");
    let (s, v) = app.post("/v1/logs", "application/json", "{\"resourceLogs\": [").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], 3);
    assert!(v["message"].as_str().unwrap().contains("undecodable OTLP/JSON"), "{v}");
    let (s, v) = app
        .post(
            "/v1/traces",
            "application/json",
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = app.post("/v1/metrics", "text/plain", "hi").await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(v["message"].as_str().unwrap().contains("application/x-protobuf"));
}

#[tokio::test]
async fn the_limit_applies_after_gzip_and_is_413() {
    let app = app_with(|c| c.max_otlp_body_bytes = 4096).await;
    let spans = (0..200)
        .map(|i| span_json("0af7651916cd43dd8448eb211c80319c", &format!("{:016x}", i + 1), "chat m"))
        .collect();
    let body = traces_json(spans);
    assert!(body.len() > 4096);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(body.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 4096, "the compressed body is under the limit");
    let req = axum::http::Request::post("/v1/traces")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(axum::body::Body::from(gz))
        .unwrap();
    let (s, v) = split(tower::ServiceExt::oneshot(app.router.clone(), req).await.unwrap()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["message"].as_str().unwrap().contains("4096"), "{v}");
}

#[tokio::test]
async fn logs_without_a_trace_are_refused_and_genai_metrics_feed_the_llm_view() {
    let app = app_with(|_| {}).await;
    let logs = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1700000000000000000", "severityNumber": 9, "body": {"stringValue": "orphan"}},
        {"timeUnixNano": "1700000000000000000", "severityNumber": 17, "body": {"stringValue": "kept"},
         "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}]}]}]});
    let (s, v) = app.post("/v1/logs", "application/json", logs.to_string()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["partialSuccess"]["rejectedLogRecords"], "1");
    let (_, l) = app.get("/api/executions/0af7651916cd43dd8448eb211c80319c/logs").await;
    assert_eq!(
        (l[0]["message"].as_str(), l[0]["level"].as_str()),
        (Some("kept"), Some("error"))
    );

    let point = |attrs: Value, count: &str, sum: f64| {
        json!({"attributes": attrs, "startTimeUnixNano": "1700000000000000000",
               "timeUnixNano": "1700000060000000000", "count": count, "sum": sum})
    };
    let model = |extra: Option<(&str, &str)>| {
        let mut a = vec![
            json!({"key": "gen_ai.provider.name", "value": {"stringValue": "anthropic"}}),
            json!({"key": "gen_ai.request.model", "value": {"stringValue": "claude-sonnet-4"}}),
        ];
        if let Some((k, v)) = extra {
            a.push(json!({"key": k, "value": {"stringValue": v}}));
        }
        Value::Array(a)
    };
    let metrics = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "gen_ai.client.token.usage", "unit": "{token}", "histogram": {"aggregationTemporality": 1, "dataPoints": [
            point(model(Some(("gen_ai.token.type", "input"))), "3", 3000.0),
            point(model(Some(("gen_ai.token.type", "output"))), "3", 300.0)]}},
        {"name": "gen_ai.client.operation.duration", "unit": "s", "histogram": {"aggregationTemporality": 1, "dataPoints": [
            point(model(None), "3", 1.5)]}}]}]}]});
    let (s, v) = app.post("/v1/metrics", "application/json", metrics.to_string()).await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    let (_, llm) = app.get("/api/llm").await;
    let claude = find_item(&llm, "model", "claude-sonnet-4");
    assert_eq!(claude["total_requests"], 3);
    assert_eq!(claude["prompt_tokens"], 3000);
    assert_eq!(claude["completion_tokens"], 300);
    assert_eq!(claude["avg_latency_ms"], 500.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_503_with_retry_after_over_http_and_unavailable_over_grpc() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let store = GatedStore::open(dir.path(), gate.clone());
    let config = Config {
        data_dir: dir.path().into(),
        ingest_queue: 1,
        otlp_grpc_listen: None,
        ..Config::default()
    };
    let state = AppState::with_store(config, Arc::new(store)).await.unwrap();
    let server = start_with(state, dir).await;
    let send = |n: u32| {
        let url = format!("http://{}/v1/traces", server.http);
        let body = traces_json(vec![span_json(
            &format!("{:032x}", n + 1),
            "b7ad6b7169203331",
            "invoke_agent a",
        )]);
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (resp.status(), retry)
        })
    };
    // The first batch's commit waits at the gate; the pipeline applies the next and queues
    // its commit behind it; it takes the next and waits for the first commit; the next
    // fills the queue (whose one slot the host sampler may take too) and the rest are
    // refused at once.
    let first = send(1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut others = Vec::new();
    for n in 2..7 {
        others.push((n, send(n)));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let json = traces_json(vec![span_json(&format!("{:032x}", 9), "b7ad6b7169203331", "x")]);
    let req: ExportTraceServiceRequest = serde_json::from_str(&json).unwrap();
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let err = client.export(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err}");

    gate.add_permits(1000);
    assert_eq!(first.await.unwrap().0.as_u16(), 200);
    let mut refused = 0;
    for (n, task) in others {
        let (status, retry) = task.await.unwrap();
        if status.as_u16() == 503 {
            assert_eq!(retry.as_deref(), Some("1"));
            refused += 1;
        } else {
            assert_eq!(status.as_u16(), 200);
            let e = get(server.http, &format!("/api/executions/{:032x}", n + 1)).await;
            assert_eq!(e["execution"]["status"], "COMPLETED", "acknowledged means stored: {e}");
        }
    }
    assert!(refused >= 2, "{refused} of 5 refused");
}

#[tokio::test]
async fn exporters_need_an_ingest_token_over_http_and_grpc() {
    use observatory::server::auth::Role;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let server = start_secured(&[("ingest", Role::Ingest), ("viewer", Role::Viewer)], |_| {}).await;

    // gRPC: no token, a token of the wrong role, then the ingest token.
    let req = one_span_request();
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let err = client.export(req.clone()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
    let with = |token: &str| {
        let mut r = tonic::Request::new(req.clone());
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    };
    let err = client.export(with("viewer-secret")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err}");
    assert!(err.message().contains("ingest"), "{err}");
    client.export(with("ingest-secret")).await.unwrap();

    // HTTP: the SDK's exporter with its headers.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("http://{}/v1/traces", server.http))
        .with_headers([("authorization".to_string(), "Bearer ingest-secret".to_string())].into())
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("svc").build())
        .build();
    let trace_id = tokio::task::spawn_blocking(move || {
        let tracer = provider.tracer("t");
        let mut span = tracer
            .span_builder("invoke_agent writer")
            .with_attributes(vec![
                KeyValue::new("gen_ai.operation.name", "invoke_agent"),
                KeyValue::new("gen_ai.agent.name", "writer"),
            ])
            .start(&tracer);
        let id = span.span_context().trace_id().to_string();
        span.end();
        provider.shutdown().unwrap();
        id
    })
    .await
    .unwrap();
    let read = |path: String| {
        reqwest::Client::new()
            .get(format!("http://{}{path}", server.http))
            .bearer_auth("viewer-secret")
            .send()
    };
    let e: Value = read(format!("/api/executions/{trace_id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e["execution"]["agent_id"], "writer", "{e}");
    assert_eq!(read("/api/agents".into()).await.unwrap().status(), 200);
    // Without a token, nothing is readable.
    let anonymous = reqwest::get(format!("http://{}/api/executions/{trace_id}", server.http))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn grpc_checks_the_token_before_reading_the_message() {
    use observatory::server::auth::Role;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let server = start_secured(&[("ingest", Role::Ingest)], |c| c.max_otlp_body_bytes = 4096).await;
    // Over the size limit and without a token: refused for the token, not decoded first.
    let mut req = one_span_request();
    req.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(10_000);
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let err = client.export(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err}");
}

#[tokio::test]
async fn requests_past_the_ingest_memory_budget_are_503_until_it_frees() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let store = GatedStore::open(dir.path(), gate.clone());
    let config = Config {
        data_dir: dir.path().into(),
        otlp_grpc_listen: None,
        max_body_bytes: 40 * 1024,
        max_otlp_body_bytes: 40 * 1024,
        ingest_memory: bytesize::ByteSize::kib(48),
        ..Config::default()
    };
    let state = AppState::with_store(config, Arc::new(store)).await.unwrap();
    let server = start_with(state, dir).await;
    // One span with a 30 KiB name: held in the budget until its commit is through.
    let body = |trace: u32| {
        let mut span = span_json(&format!("{trace:032x}"), "b7ad6b7169203331", "invoke_agent a");
        span["name"] = json!(format!("invoke_agent {}", "a".repeat(30 * 1024)));
        traces_json(vec![span])
    };
    let post = |trace: u32| {
        let url = format!("http://{}/v1/traces", server.http);
        let body = body(trace);
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), retry, r.text().await.unwrap())
        }
    };
    let first = tokio::spawn(post(1));
    // The first request holds its bytes while its commit waits at the gate.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.state.ingest.budget().in_use() < 30 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first request never held its bytes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, retry, text) = post(2).await;
    assert_eq!((status, retry.as_deref()), (503, Some("1")), "{text}");
    assert!(text.contains("ingest_memory"), "{text}");
    gate.add_permits(1000);
    assert_eq!(first.await.unwrap().0, 200);
    assert_eq!(
        server.state.ingest.budget().in_use(),
        0,
        "the answer gave the bytes back"
    );
    assert_eq!(post(2).await.0, 200, "retried, it is taken");
}

/// A spent ingest rate is 429 + `Retry-After` with a `google.rpc.Status` in the request's
/// encoding over HTTP, and RESOURCE_EXHAUSTED with `RetryInfo` over gRPC; a message over the
/// size limit is RESOURCE_EXHAUSTED without it (retrying cannot help).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_rate_is_429_over_http_and_resource_exhausted_over_grpc() {
    use observatory::server::auth::Role;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use tonic_types::StatusExt;
    let server = start_secured(&[("http", Role::Ingest), ("grpc", Role::Ingest)], |c| {
        c.ingest_rate_limit = 1;
        c.max_otlp_body_bytes = 4096;
    })
    .await;
    let req = one_span_request();

    // HTTP, protobuf: requests back to back spend the one request a second.
    let http = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..10 {
        let resp = http
            .post(format!("http://{}/v1/traces", server.http))
            .header("content-type", "application/x-protobuf")
            .bearer_auth("http-secret")
            .body(req.encode_to_vec())
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            refused = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = refused.expect("a request over the rate is refused");
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["content-type"], "application/x-protobuf");
    let status = tonic_types::Status::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, tonic::Code::ResourceExhausted as i32);
    assert!(status.message.contains("1 requests/s"), "{}", status.message);

    // gRPC: the same, with when to retry.
    let mut client = TraceServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .unwrap();
    let with = |req: ExportTraceServiceRequest| {
        let mut r = tonic::Request::new(req);
        r.metadata_mut()
            .insert("authorization", "Bearer grpc-secret".parse().unwrap());
        r
    };
    let mut refused = None;
    for _ in 0..10 {
        if let Err(e) = client.export(with(req.clone())).await {
            refused = Some(e);
            break;
        }
    }
    let err = refused.expect("a request over the rate is refused");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    let retry = err.get_details_retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));

    // Over the size limit: refused for its size, and not to be retried.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut big = req.clone();
    big.resource_spans[0].scope_spans[0].spans[0].name = "x".repeat(8192);
    let err = client.export(with(big)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(err.get_details_retry_info().is_none(), "{err}");
}

/// The SDK's metrics exporter over gRPC, with its default cumulative temporality: two exports
/// of growing cumulative histograms count each call once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_metrics_from_the_sdk_exporter_feed_the_llm_view() {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
    let server = start().await;
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", server.grpc))
        .build()
        .unwrap();
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .with_resource(Resource::builder().with_service_name("metrics-svc").build())
        .build();
    tokio::task::spawn_blocking(move || {
        let meter = provider.meter("gen_ai");
        let tokens = meter
            .u64_histogram("gen_ai.client.token.usage")
            .with_unit("{token}")
            .build();
        let duration = meter
            .f64_histogram("gen_ai.client.operation.duration")
            .with_unit("s")
            .build();
        let attrs = |kind: Option<&'static str>| {
            let mut a = vec![
                KeyValue::new("gen_ai.operation.name", "chat"),
                KeyValue::new("gen_ai.provider.name", "mistral"),
                KeyValue::new("gen_ai.request.model", "mistral-large"),
            ];
            if let Some(k) = kind {
                a.push(KeyValue::new("gen_ai.token.type", k));
            }
            a
        };
        for calls in [2, 1] {
            for _ in 0..calls {
                tokens.record(400, &attrs(Some("input")));
                tokens.record(50, &attrs(Some("output")));
                duration.record(0.8, &attrs(None));
            }
            provider.force_flush().unwrap();
        }
        provider.shutdown().unwrap();
    })
    .await
    .unwrap();
    let llm = get(server.http, "/api/llm").await;
    let m = find_item(&llm, "model", "mistral-large");
    assert_eq!(m["provider"], "mistral");
    assert_eq!(m["total_requests"], 3, "{m}");
    assert_eq!(m["prompt_tokens"], 1200);
    assert_eq!(m["completion_tokens"], 150);
    assert_eq!(m["avg_latency_ms"], 800.0);
}

#[tokio::test]
async fn sensitive_otlp_attributes_are_redacted_before_storage() {
    let app = app_with(|_| {}).await;
    let trace = "0af7651916cd43dd8448eb211c80319d";
    let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let mut span = span_json(trace, "b7ad6b7169203331", "invoke_agent a");
    span["attributes"] = json!([kv("db.password", "hunter2"), kv("gen_ai.agent.name", "a")]);
    span["events"] = json!([{"name": "call", "timeUnixNano": "1700000000050000000",
                              "attributes": [kv("http.request.header.authorization", "Bearer abc")]}]);
    let (s, v) = app
        .post("/v1/traces", "application/json", traces_json(vec![span]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let logs = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1700000000060000000", "traceId": trace, "body": {"stringValue": "called"},
        "attributes": [kv("x-api-key", "sk-live-1"), kv("attempt", "2")]}]}]}]});
    let (s, v) = app.post("/v1/logs", "application/json", logs.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (_, spans) = app.get(&format!("/api/executions/{trace}/spans")).await;
    assert_eq!(spans[0]["attributes"]["db.password"], "[REDACTED]", "{spans}");
    assert_eq!(spans[0]["attributes"]["gen_ai.agent.name"], "a");
    assert_eq!(
        spans[0]["events"][0]["attributes"]["http.request.header.authorization"],
        "[REDACTED]"
    );
    let (_, logs) = app.get(&format!("/api/executions/{trace}/logs")).await;
    assert_eq!(logs[0]["attributes"]["x-api-key"], "[REDACTED]", "{logs}");
    assert_eq!(logs[0]["attributes"]["attempt"], "2");
    let stored = format!("{spans}{logs}");
    assert!(!stored.contains("hunter2") && !stored.contains("Bearer abc") && !stored.contains("sk-live-1"));
}

#[tokio::test]
async fn two_servers_in_one_process_redact_each_with_its_own_words() {
    let ssn_only = app_with(|c| c.redact_keys = vec!["ssn".into()]).await;
    let defaults = app_with(|_| {}).await;
    let kv = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
    let trace = "0af7651916cd43dd8448eb211c80319e";
    for app in [&ssn_only, &defaults] {
        let mut span = span_json(trace, "b7ad6b7169203332", "invoke_agent a");
        span["attributes"] = json!([kv("user.ssn", "078-05-1120"), kv("db.password", "hunter2")]);
        let (s, v) = app
            .post("/v1/traces", "application/json", traces_json(vec![span]))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = app
            .ingest(json!([{"type": "log", "execution_id": trace, "message": "m",
                            "attributes": {"user.ssn": "078-05-1120", "db.password": "hunter2"}}]))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for (app, redacted, kept) in [
        (&ssn_only, "user.ssn", "db.password"),
        (&defaults, "db.password", "user.ssn"),
    ] {
        let (_, spans) = app.get(&format!("/api/executions/{trace}/spans")).await;
        let (_, logs) = app.get(&format!("/api/executions/{trace}/logs")).await;
        for attrs in [&spans[0]["attributes"], &logs[0]["attributes"]] {
            assert_eq!(attrs[redacted], "[REDACTED]", "{attrs}");
            assert_ne!(attrs[kept], "[REDACTED]", "{attrs}");
        }
    }
}
