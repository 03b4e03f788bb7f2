//! Shared helpers for the integration tests.
#![allow(dead_code)]

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use observatory::model::StoreStats;
use observatory::server::store::{
    Committing, ExecutionQuery, RetentionReport, RollupRange, RollupRow, RunRow, Snapshot, SqliteStore, Store,
    StoreResult, WriteBatch,
};
use observatory::server::{AppState, Config};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// The item of a JSON list whose `key` is `value`; panics naming both, and the list, if none.
pub fn find_item<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|items| items.iter().find(|i| i[key] == value))
        .unwrap_or_else(|| panic!("no item with {key} = {value:?} in {list}"))
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub dir: tempfile::TempDir,
}

/// The `id` of every item of a JSON list.
pub fn ids<B: FromIterator<String>>(list: &Value) -> B {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| {
            item["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no id: {item}"))
                .to_string()
        })
        .collect()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server binary on `127.0.0.1:port` with its store in `dir` (gRPC off). `OBSERVATORY_BIN`
/// runs another build (the release binary, for the drills' figures).
pub fn spawn_server(dir: &std::path::Path, port: u16) -> std::process::Child {
    spawn_server_with(dir, port, &[])
}

/// [`spawn_server`] with more flags (`--store postgres://…`).
pub fn spawn_server_with(dir: &std::path::Path, port: u16, flags: &[&str]) -> std::process::Child {
    let bin = std::env::var("OBSERVATORY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_observatory").into());
    std::process::Command::new(bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--otlp-grpc-listen",
            "off",
            "--data-dir",
        ])
        .arg(dir)
        .args(flags)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts")
}

/// Waits until the server at `base` answers its liveness probe.
pub async fn wait_ready(client: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/health/live")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the server did not start");
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

pub async fn app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    tweak(&mut config);
    let state = AppState::open(config).await.expect("state opens");
    TestApp::from_state(state, dir)
}

impl TestApp {
    pub fn from_state(state: AppState, dir: tempfile::TempDir) -> Self {
        let router = observatory::server::router(state.clone());
        TestApp { state, router, dir }
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let resp = self
            .router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        split(resp).await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let req = Request::post(uri)
            .header("content-type", content_type)
            .body(body.into())
            .unwrap();
        split(self.router.clone().oneshot(req).await.unwrap()).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        split(self.router.clone().oneshot(req).await.unwrap()).await
    }

    pub async fn ingest(&self, events: Value) -> (StatusCode, Value) {
        self.post("/api/v1/events", "application/json", events.to_string())
            .await
    }
}

pub async fn split(resp: axum::response::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value)
}

/// A small fleet: two agents, three executions (one running), logs, an LLM call, a tool call.
pub fn fleet() -> Value {
    serde_json::json!([
        {"type": "agent", "id": "alpha", "name": "Alpha", "kind": "langgraph", "labels": {"team": "a"}},
        {"type": "agent", "id": "beta", "name": "Beta", "kind": "crewai"},
        {"type": "workflow", "id": "wf", "name": "Pipeline", "node_count": 3},
        {"type": "plugin", "id": "vector_db", "name": "Vector DB", "version": "2.0.0", "state": "running"},
        {"type": "execution", "id": "e1", "agent_id": "alpha", "workflow_id": "wf", "status": "RUNNING", "input": "task one"},
        {"type": "log", "execution_id": "e1", "level": "info", "message": "first"},
        {"type": "log", "execution_id": "e1", "level": "warn", "message": "second", "attributes": {"attempt": 2}},
        {"type": "llm_call", "execution_id": "e1", "provider": "openai", "model": "gpt-4o", "tokens_in": 1000, "tokens_out": 200, "cache_read_tokens": 600, "reasoning_tokens": 50, "latency_ms": 900.0, "ttft_ms": 150.0},
        {"type": "tool_call", "execution_id": "e1", "name": "vector_db", "latency_ms": 35.0},
        {"type": "resource", "execution_id": "e1", "cpu_percent": 42.0, "memory_bytes": 104857600u64},
        {"type": "status", "execution_id": "e1", "status": "COMPLETED", "output": "done"},
        {"type": "execution", "id": "e2", "agent_id": "beta", "status": "RUNNING"},
        {"type": "status", "execution_id": "e2", "status": "FAILED", "error": "boom"},
        {"type": "execution", "id": "e3", "agent_id": "beta", "status": "RUNNING"},
        {"type": "system", "host": "agent-host-1", "cpu_percent": 12.5, "memory_used_bytes": 1000, "memory_total_bytes": 4000}
    ])
}

/// A store whose commits wait for a permit, to hold the pipeline busy; it counts how often
/// it is asked for its stats (which the default readiness probe also reads), and fails
/// commits or reads of executions on demand (a full disk, a broken read).
pub struct GatedStore {
    inner: SqliteStore,
    gate: Arc<Semaphore>,
    pub stats_calls: std::sync::atomic::AtomicU64,
    pub fail_commits: std::sync::atomic::AtomicBool,
    pub fail_reads: std::sync::atomic::AtomicBool,
}

fn injected(what: &str) -> observatory::server::store::StoreError {
    std::io::Error::other(format!("{what} failed (injected by the test)")).into()
}

impl GatedStore {
    /// A store in `dir` whose commits each take a permit from `gate`.
    pub fn open(dir: &std::path::Path, gate: Arc<Semaphore>) -> Self {
        Self {
            inner: SqliteStore::open(dir, 3600).expect("store opens"),
            gate,
            stats_calls: Default::default(),
            fail_commits: Default::default(),
            fail_reads: Default::default(),
        }
    }
}

#[async_trait]
impl Store for GatedStore {
    fn commit(&self, batch: WriteBatch) -> Committing {
        if self.fail_commits.load(std::sync::atomic::Ordering::Relaxed) {
            return Box::pin(async { Err(injected("commit")) });
        }
        // Written at once, acknowledged only with a permit.
        let (gate, committing) = (self.gate.clone(), self.inner.commit(batch));
        Box::pin(async move {
            let _permit = gate.acquire().await.expect("gate open");
            committing.await
        })
    }
    async fn snapshot(&self, since: i64, rollups: Vec<RollupRange>) -> StoreResult<Snapshot> {
        self.inner.snapshot(since, rollups).await
    }
    async fn executions(&self, q: ExecutionQuery) -> StoreResult<(Vec<observatory::model::Execution>, u64)> {
        self.inner.executions(q).await
    }
    async fn executions_by_id(&self, ids: Vec<String>) -> StoreResult<Vec<observatory::model::Execution>> {
        if self.fail_reads.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(injected("reading executions"));
        }
        self.inner.executions_by_id(ids).await
    }
    async fn groups(
        &self,
        q: observatory::server::store::GroupQuery,
    ) -> StoreResult<(Vec<observatory::model::RunGroup>, u64)> {
        self.inner.groups(q).await
    }
    async fn environments(&self, limit: u64) -> StoreResult<Vec<String>> {
        self.inner.environments(limit).await
    }
    async fn views(&self) -> StoreResult<Vec<observatory::model::SavedView>> {
        self.inner.views().await
    }
    async fn logs(&self, id: &str, after: u64, limit: u64) -> StoreResult<Vec<observatory::model::LogRecord>> {
        self.inner.logs(id, after, limit).await
    }
    async fn tail_logs(&self, id: &str, limit: u64) -> StoreResult<Vec<observatory::model::LogRecord>> {
        self.inner.tail_logs(id, limit).await
    }
    async fn spans(&self, id: &str, limit: u64) -> StoreResult<Vec<observatory::model::Span>> {
        self.inner.spans(id, limit).await
    }
    async fn alert_snapshot(&self, since: i64, history: u64) -> StoreResult<observatory::server::store::AlertSnapshot> {
        self.inner.alert_snapshot(since, history).await
    }
    async fn rollups(&self, step_ms: i64, from: i64, to: i64) -> StoreResult<Vec<RollupRow>> {
        self.inner.rollups(step_ms, from, to).await
    }
    async fn sessions(&self, now: i64) -> StoreResult<Vec<observatory::server::store::SessionRow>> {
        self.inner.sessions(now).await
    }
    async fn agent(&self, id: &str) -> StoreResult<Option<observatory::model::Agent>> {
        self.inner.agent(id).await
    }
    async fn agent_runs(&self, agent_id: &str, from: i64, limit: u64) -> StoreResult<Vec<RunRow>> {
        self.inner.agent_runs(agent_id, from, limit).await
    }
    async fn retain(&self, cutoff: i64, max_bytes: Option<u64>) -> StoreResult<RetentionReport> {
        self.inner.retain(cutoff, max_bytes).await
    }
    async fn stats(&self) -> StoreResult<StoreStats> {
        self.stats_calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.stats().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

/// A schema of its own on the test PostgreSQL server, dropped with the value; its `url()`
/// is what `--store` takes.
pub async fn pg_schema() -> observatory::server::store::postgres::scratch::ScratchSchema {
    observatory::server::store::postgres::scratch::ScratchSchema::for_tests().await
}

/// An OTLP/JSON export of one agent trace: an `invoke_agent` root and a `chat gpt-4o` child.
pub fn two_span_trace(trace: &str) -> Value {
    json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "planner"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": "eee19b7ec3c1b174", "name": "invoke_agent planner", "kind": 1,
             "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000",
             "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}}]},
            {"traceId": trace, "spanId": "eee19b7ec3c1b175", "parentSpanId": "eee19b7ec3c1b174", "name": "chat gpt-4o", "kind": 3,
             "startTimeUnixNano": "1700000000100000000", "endTimeUnixNano": "1700000000900000000",
             "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}}]}]}]}]})
}

pub type Inbox = Arc<std::sync::Mutex<Vec<Value>>>;

/// A webhook receiver that records every payload; its URL and what it received.
pub async fn receiver() -> (String, Inbox) {
    use axum::extract::State;
    let inbox: Inbox = Arc::default();
    let app = Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(inbox): State<Inbox>, axum::Json(v): axum::Json<Value>| async move {
                    inbox.lock().unwrap().push(v);
                    "ok"
                },
            ),
        )
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), inbox)
}

/// A WebSocket client of `/ws`.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message, as JSON; panics if none comes within 10 s.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), futures::StreamExt::next(ws))
            .await
            .expect("a message in time")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}
