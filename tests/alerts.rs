//! Alerting end to end on the server: rules fire from ingested data, acknowledgements and
//! silences persist across a restart, notifications reach a real HTTP receiver.

mod common;

use common::receiver;

use observatory::server::{AppState, Config, DashboardServer};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(dir: &std::path::Path, hook: &str, store: Option<&str>) -> Config {
    let text = format!(
        r#"
        [alerts]
        eval_interval = "200ms"
        default_rules = false
        [[alerts.rules]]
        name = "FlakyFails"
        severity = "critical"
        summary = "{{{{agent_id}}}} failed {{{{value}}}} times"
        condition = {{ kind = "execution_failed", agent_id = "flaky", window = "3s" }}
        [[alerts.receivers]]
        name = "ops"
        kind = "webhook"
        url = "{hook}"
        "#
    );
    let mut c: Config = toml::from_str(&text).unwrap();
    c.data_dir = dir.into();
    c.store = store.map(String::from);
    c.otlp_grpc_listen = None;
    c
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::task::JoinHandle<()>,
}

async fn start(config: Config) -> Running {
    start_with(AppState::open(config).await.unwrap()).await
}

async fn start_with(state: AppState) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = DashboardServer::from_state(state.clone());
    let done = tokio::spawn(async move {
        server
            .serve_on(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap()
    });
    Running { addr, stop, done }
}

impl Running {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.done.await.unwrap();
    }
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    async fn fail(&self, n: usize) {
        let events: Vec<Value> = (0..n)
            .flat_map(|i| {
                let id = format!("flaky-{}-{i}", observatory::server::now_ms());
                [
                    json!({"type": "execution", "id": id, "agent_id": "flaky", "status": "RUNNING"}),
                    json!({"type": "status", "execution_id": id, "status": "FAILED", "error": "boom"}),
                ]
            })
            .collect();
        let r = reqwest::Client::new()
            .post(self.url("/api/v1/events"))
            .json(&events)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    async fn alerts(&self) -> Value {
        reqwest::get(self.url("/api/alerts"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn find<'a>(inbox: &'a [Value], status: &str, acked: bool) -> Option<&'a Value> {
    inbox
        .iter()
        .find(|p| p["status"] == status && p["alerts"][0]["acknowledged"].as_bool() == Some(acked))
}

#[tokio::test]
async fn fire_acknowledge_restart_still_acknowledged_then_resolve() {
    fire_acknowledge_restart_resolve(None).await;
}

#[tokio::test]
async fn fire_acknowledge_restart_still_acknowledged_then_resolve_on_postgres() {
    let schema = common::pg_schema().await;
    fire_acknowledge_restart_resolve(Some(&schema.url())).await;
}

async fn fire_acknowledge_restart_resolve(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (hook, inbox) = receiver().await;
    let s = start(config(dir.path(), &hook, store)).await;
    s.fail(3).await;

    let firing = eventually("a firing notification", async || {
        find(&inbox.lock().unwrap(), "firing", false).cloned()
    })
    .await;
    assert_eq!(firing["version"], "4");
    assert_eq!(firing["receiver"], "ops");
    assert_eq!(firing["groupLabels"]["alertname"], "FlakyFails");
    let a = &firing["alerts"][0];
    assert_eq!(a["labels"]["agent_id"], "flaky");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["summary"], "flaky failed 3 times");
    assert_eq!(
        a["executionIds"].as_array().unwrap().len(),
        3,
        "exemplars link the failed executions"
    );

    let view = s.alerts().await;
    let alert = &view["alerts"][0];
    assert_eq!(alert["state"], "firing");
    let id = alert["id"].as_str().unwrap().to_string();

    let (code, acked) = s
        .post(
            &format!("/api/alerts/{id}/ack"),
            json!({"by": "ana", "note": "restarting the scraper"}),
        )
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["ack"]["by"], "ana");
    let ack_note = eventually("an acknowledged notification", async || {
        find(&inbox.lock().unwrap(), "firing", true).cloned()
    })
    .await;
    assert_eq!(ack_note["acknowledgedBy"], "ana");
    assert_eq!(ack_note["ackNote"], "restarting the scraper");

    // Restart: the acknowledgement is still there. Keep failing so the alert stays firing.
    s.fail(1).await;
    s.shutdown().await;
    let s = start(config(dir.path(), &hook, store)).await;
    let view = s.alerts().await;
    let alert = view["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id.as_str())
        .expect("the alert survived the restart")
        .clone();
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["ack"]["by"], "ana");
    assert_eq!(alert["ack"]["note"], "restarting the scraper");
    let kinds: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"firing") && kinds.contains(&"acknowledged"),
        "{kinds:?}"
    );

    // No failures for the window: resolved, and a resolved notification.
    eventually("resolution", async || {
        let v = s.alerts().await;
        (v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["state"] == "resolved"))
        .then_some(())
    })
    .await;
    eventually("a resolved notification", async || {
        find(&inbox.lock().unwrap(), "resolved", false).map(|_| ())
    })
    .await;
    let (code, body) = s.post(&format!("/api/alerts/{id}/ack"), json!({"by": "ana"})).await;
    assert_eq!(code, 409, "a resolved alert cannot be acknowledged: {body}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_silence_mutes_notifications_and_bad_requests_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, inbox) = receiver().await;
    let s = start(config(dir.path(), &hook, None)).await;

    let (code, body) = s
        .post(
            "/api/silences",
            json!({"matchers": {}, "duration_minutes": 10, "created_by": "bo"}),
        )
        .await;
    assert_eq!(code, 400);
    assert!(body["message"].as_str().unwrap().contains("matchers"));
    let (code, _) = s.post("/api/alerts/nope/ack", json!({"by": "bo"})).await;
    assert_eq!(code, 404);
    let (code, body) = s.post("/api/alerts/nope/ack", json!({"note": "no by"})).await;
    assert_eq!(code, 400, "{body}");

    let (code, silence) = s.post("/api/silences", json!({"matchers": {"alertname": "FlakyFails", "agent_id": "flaky"}, "duration_minutes": 10, "created_by": "bo", "comment": "maintenance"})).await;
    assert_eq!(code, 200, "{silence}");
    s.fail(2).await;
    let alert = eventually("a silenced firing alert", async || {
        let v = s.alerts().await;
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["state"] == "firing")
            .cloned()
    })
    .await;
    assert_eq!(alert["silenced_by"], silence["id"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(inbox.lock().unwrap().is_empty(), "a silenced alert sends nothing");

    let r = reqwest::Client::new()
        .delete(s.url(&format!("/api/silences/{}?by=bo", silence["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = s.alerts().await;
    assert_eq!(v["silences"][0]["comment"], "maintenance (expired by bo)");
    s.shutdown().await;
}

#[tokio::test]
async fn a_failing_receiver_is_visible_and_degrades_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = start(config(dir.path(), &format!("http://{closed}/hook"), None)).await;
    s.fail(1).await;
    let receiver = eventually("a recorded delivery failure", async || {
        let v = s.alerts().await;
        let r = v["receivers"][0].clone();
        (r["failed"].as_u64() >= Some(1)).then_some(r)
    })
    .await;
    assert!(receiver["last_error"].is_string());
    let ready: Value = reqwest::get(s.url("/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "degraded");
    s.shutdown().await;
}

#[tokio::test]
async fn an_acknowledgement_or_silence_the_store_refuses_leaves_no_trace() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (hook, _inbox) = receiver().await;
    let store = Arc::new(common::GatedStore::open(
        dir.path(),
        Arc::new(tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS)),
    ));
    let state = AppState::with_store(config(dir.path(), &hook, None), store.clone())
        .await
        .unwrap();
    let s = start_with(state).await;
    s.fail(3).await;
    let id = eventually("a firing alert", async || {
        let v = s.alerts().await;
        v["alerts"][0]["id"].as_str().map(str::to_string)
    })
    .await;

    store.fail_commits.store(true, Ordering::Relaxed);
    let (code, body) = s
        .post(&format!("/api/alerts/{id}/ack"), json!({"by": "ana", "note": "n"}))
        .await;
    assert!(code >= 500, "{code} {body}");
    let (code, body) = s
        .post(
            "/api/silences",
            json!({"matchers": {"agent_id": "flaky"}, "duration_minutes": 30, "created_by": "ana"}),
        )
        .await;
    assert!(code >= 500, "{code} {body}");
    let v = s.alerts().await;
    assert!(
        v["alerts"][0]["ack"].is_null(),
        "an acknowledgement that is not durable is not shown: {v}"
    );
    assert!(v["alerts"][0]["silenced_by"].is_null(), "{v}");
    assert_eq!(v["silences"].as_array().map_or(0, Vec::len), 0, "{v}");
    assert!(
        !v["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "acknowledged"),
        "{v}"
    );

    store.fail_commits.store(false, Ordering::Relaxed);
    let (code, body) = s
        .post(&format!("/api/alerts/{id}/ack"), json!({"by": "ana", "note": "n"}))
        .await;
    assert_eq!(code, 200, "{body}");
    s.shutdown().await;
}
