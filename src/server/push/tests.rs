//! The connection loop driven through channels: no sockets.

use super::*;
use crate::model::{Event, ExecutionEvent, ExecutionStatus, LogEvent};
use crate::server::hub::PriceTable;
use crate::server::store::{SqliteStore, Store};
use axum::extract::ws::Message;
use futures::channel::mpsc as fmpsc;
use futures::{SinkExt, StreamExt};

struct Harness {
    live: Live,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), 3600).unwrap());
    let hub = Arc::new(Hub::new(
        PriceTable::default(),
        "h".into(),
        crate::server::hub::LiveLimits::default(),
    ));
    Harness {
        live: Live::new(hub.clone()),
        hub,
        store,
        _dir: dir,
    }
}

impl Harness {
    /// Applies, commits and publishes, as the ingest pipeline does.
    async fn ingest(&self, events: Vec<Event>) {
        let mut applied = self.hub.apply(events, now_ms());
        let changes = self.live.changes(&mut applied);
        self.store.commit(applied.batch).await.unwrap();
        self.live.publish(changes);
    }

    fn connect(
        &self,
        heartbeat: Heartbeat,
    ) -> (
        fmpsc::UnboundedSender<Result<Message, std::io::Error>>,
        fmpsc::UnboundedReceiver<Message>,
    ) {
        let (to_server, from_client) = fmpsc::unbounded();
        let (to_client, from_server) = fmpsc::unbounded();
        let sink = to_client.sink_map_err(|_| ());
        tokio::spawn(run_connection(
            self.live.clone(),
            self.store.clone(),
            500,
            heartbeat,
            (sink, from_client),
            std::future::pending(),
        ));
        (to_server, from_server)
    }
}

fn log(id: &str, n: usize) -> Event {
    Event::Log(LogEvent {
        execution_id: id.into(),
        message: format!("line {n}"),
        ..Default::default()
    })
}

async fn next_json(rx: &mut fmpsc::UnboundedReceiver<Message>) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), rx.next())
            .await
            .expect("a message in time")
            .expect("open");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

fn send(tx: &fmpsc::UnboundedSender<Result<Message, std::io::Error>>, v: serde_json::Value) {
    tx.unbounded_send(Ok(Message::Text(v.to_string().into()))).unwrap();
}

#[tokio::test]
async fn topics_get_a_snapshot_then_numbered_deltas() {
    let h = harness().await;
    h.ingest(vec![Event::Execution(ExecutionEvent {
        id: "e1".into(),
        agent_id: "a".into(),
        status: Some(ExecutionStatus::Running),
        ..Default::default()
    })])
    .await;
    h.live.flush();
    let (tx, mut rx) = h.connect(Heartbeat::default());
    send(
        &tx,
        serde_json::json!({"type": "subscribe", "topics": ["agents", "executions"], "compact": true}),
    );
    let snap = next_json(&mut rx).await;
    assert_eq!(
        (snap["type"].as_str(), snap["topic"].as_str(), snap["seq"].as_u64()),
        (Some("snapshot"), Some("agents"), Some(1))
    );
    assert_eq!(snap["data"][0]["id"], "a");
    let snap = next_json(&mut rx).await;
    assert_eq!(
        (snap["topic"].as_str(), snap["data"][0]["id"].as_str()),
        (Some("executions"), Some("e1"))
    );
    assert_eq!(next_json(&mut rx).await["type"], "subscribed");

    h.ingest(vec![Event::Status(crate::model::StatusEvent {
        execution_id: "e1".into(),
        status: ExecutionStatus::Completed,
        ..Default::default()
    })])
    .await;
    h.live.flush();
    let d = next_json(&mut rx).await;
    assert_eq!(
        (d["type"].as_str(), d["topic"].as_str(), d["seq"].as_u64()),
        (Some("delta"), Some("agents"), Some(2))
    );
    assert_eq!(d["data"][0]["tasks_completed"], 1);
    let d = next_json(&mut rx).await;
    assert_eq!((d["topic"].as_str(), d["seq"].as_u64()), (Some("executions"), Some(2)));
    assert_eq!(d["data"][0]["status"], "COMPLETED");
}

#[tokio::test]
async fn mofa_clients_also_get_metrics_update() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    send(
        &tx,
        serde_json::json!({"type": "subscribe", "topics": ["agents", "workflows", "llm"]}),
    );
    for _ in 0..4 {
        next_json(&mut rx).await; // three snapshots and `subscribed`
    }
    h.ingest(vec![Event::Agent(crate::model::AgentEvent {
        id: "x".into(),
        ..Default::default()
    })])
    .await;
    h.live.flush();
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_json(&mut rx).await);
    }
    let update = seen
        .iter()
        .find(|m| m["type"] == "metrics_update")
        .expect("a metrics_update");
    assert_eq!(update["payload"]["agents"][0]["id"], "x");
}

#[tokio::test]
async fn an_execution_gets_its_backlog_then_live_lines_in_order_without_gaps() {
    let h = harness().await;
    h.ingest((1..=10).map(|n| log("e", n)).collect()).await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    send(&tx, serde_json::json!({"type": "subscribe", "executionId": "e"}));
    let mut seqs = Vec::new();
    loop {
        let m = next_json(&mut rx).await;
        match m["type"].as_str() {
            Some("log") => {
                assert_eq!(m["executionId"], "e");
                assert!(m["timestamp"].as_i64().unwrap() > 0);
                seqs.push(m["data"]["seq"].as_u64().unwrap());
            }
            Some("status") => {}
            Some("subscribed") => {
                assert_eq!(m["lastSeq"], 10);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    h.ingest((11..=20).map(|n| log("e", n)).collect()).await;
    while seqs.len() < 20 {
        let m = next_json(&mut rx).await;
        if m["type"] == "log" {
            assert_eq!(m["data"]["log"], format!("line {}", m["data"]["seq"]));
            seqs.push(m["data"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

    // Resuming after a sequence number sends only what came after it.
    send(&tx, serde_json::json!({"type": "unsubscribe", "executionId": "e"}));
    send(
        &tx,
        serde_json::json!({"type": "subscribe", "executionId": "e", "afterSeq": 18}),
    );
    let mut resumed = Vec::new();
    loop {
        let m = next_json(&mut rx).await;
        match m["type"].as_str() {
            Some("log") => resumed.push(m["data"]["seq"].as_u64().unwrap()),
            Some("subscribed") => break,
            _ => {}
        }
    }
    assert_eq!(resumed, [19, 20]);
}

#[tokio::test]
async fn an_execution_that_does_not_exist_yet_may_be_watched() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    send(&tx, serde_json::json!({"type": "subscribe", "executionId": "later"}));
    let m = next_json(&mut rx).await;
    assert_eq!(
        (m["type"].as_str(), m["lastSeq"].as_u64()),
        (Some("subscribed"), Some(0))
    );
    h.ingest(vec![
        Event::Execution(ExecutionEvent {
            id: "later".into(),
            agent_id: "a".into(),
            status: Some(ExecutionStatus::Running),
            ..Default::default()
        }),
        log("later", 1),
    ])
    .await;
    let m = next_json(&mut rx).await;
    assert_eq!(
        (m["type"].as_str(), m["data"]["status"].as_str()),
        (Some("status"), Some("RUNNING"))
    );
    let m = next_json(&mut rx).await;
    assert_eq!((m["type"].as_str(), m["data"]["seq"].as_u64()), (Some("log"), Some(1)));
}

/// The browser may subscribe while a batch with the execution's first lines is applied but
/// not yet committed: the lines were not picked for this watcher, and the store does not
/// have them yet. The subscription waits for that commit and reads them from the store.
#[tokio::test]
async fn a_watcher_added_while_a_commit_is_under_way_gets_its_lines() {
    let h = harness().await;
    let mut applied = h.hub.apply(
        vec![
            Event::Execution(ExecutionEvent {
                id: "racing".into(),
                agent_id: "a".into(),
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            }),
            log("racing", 1),
        ],
        now_ms(),
    );
    let changes = h.live.changes(&mut applied);
    assert!(changes.logs.is_empty(), "nobody watched when the changes were taken");

    let (tx, mut rx) = h.connect(Heartbeat::default());
    send(&tx, serde_json::json!({"type": "subscribe", "executionId": "racing"}));
    while !h.live.inner.watchers.read().contains_key("racing") {
        tokio::task::yield_now().await;
    }
    h.store.commit(applied.batch).await.unwrap();
    h.live.publish(changes);

    let mut lines = Vec::new();
    loop {
        let m = next_json(&mut rx).await;
        match m["type"].as_str() {
            Some("log") => lines.push(m["data"]["log"].as_str().unwrap().to_string()),
            Some("subscribed") => {
                assert_eq!(m["lastSeq"], 1);
                break;
            }
            _ => {}
        }
    }
    assert_eq!(lines, ["line 1"]);
}

#[tokio::test]
async fn bad_messages_get_an_error_and_the_connection_stays_open() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    tx.unbounded_send(Ok(Message::Text("not json".into()))).unwrap();
    let m = next_json(&mut rx).await;
    assert_eq!(m["type"], "error");
    assert!(m["message"].as_str().unwrap().contains("invalid message"));
    send(&tx, serde_json::json!({"type": "subscribe", "topics": ["nope"]}));
    assert!(next_json(&mut rx).await["message"]
        .as_str()
        .unwrap()
        .contains("unknown topic `nope`"));
    send(&tx, serde_json::json!({"type": "subscribe"}));
    assert_eq!(next_json(&mut rx).await["type"], "error");
    send(&tx, serde_json::json!({"type": "ping"}));
    assert_eq!(next_json(&mut rx).await["type"], "pong");
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_pinged_then_closed() {
    let h = harness().await;
    let hb = Heartbeat {
        ping_every: Duration::from_secs(30),
        timeout: Duration::from_secs(60),
    };
    let (_tx, mut rx) = h.connect(hb);
    let mut pings = 0;
    loop {
        match rx.next().await {
            Some(Message::Ping(_)) => pings += 1,
            Some(Message::Close(Some(frame))) => {
                assert!(frame.reason.contains("heartbeat"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 1);
    assert_eq!(h.live.connections(), 0);
}

#[tokio::test]
async fn a_client_that_never_reads_is_resynced_and_memory_stays_bounded() {
    let h = harness().await;
    let (client, mut rx) = h.live.connect();
    h.live.watch_execution(&client, "busy");
    h.live.execution_backlog_sent(&client, "busy", Vec::new(), 0);
    for chunk in 0..50 {
        h.ingest((0..200).map(|n| log("busy", chunk * 200 + n)).collect()).await;
    }
    assert!(client.lagging.load(Ordering::Relaxed));
    assert!(client.dropped.load(Ordering::Relaxed) >= 10_000 - CLIENT_QUEUE as u64);
    let mut queued = 0;
    while rx.try_recv().is_ok() {
        queued += 1;
    }
    assert!(queued <= CLIENT_QUEUE, "the queue never grows past its bound");
}

/// Messages until the `pong` that answers a ping sent now: everything the server queued
/// for the messages sent before it.
async fn until_pong(
    tx: &fmpsc::UnboundedSender<Result<Message, std::io::Error>>,
    rx: &mut fmpsc::UnboundedReceiver<Message>,
) -> Vec<serde_json::Value> {
    send(tx, serde_json::json!({"type": "ping"}));
    let mut got = Vec::new();
    loop {
        let m = next_json(rx).await;
        if m["type"] == "pong" {
            return got;
        }
        got.push(m);
    }
}

fn of_type<'a>(msgs: &'a [serde_json::Value], t: &str) -> Vec<&'a serde_json::Value> {
    msgs.iter().filter(|m| m["type"] == t).collect()
}

#[tokio::test]
async fn a_topic_named_a_thousand_times_in_one_subscribe_gets_one_snapshot() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    let topics = vec!["agents"; 1000];
    send(
        &tx,
        serde_json::json!({"type": "subscribe", "topics": topics, "compact": true}),
    );
    let got = until_pong(&tx, &mut rx).await;
    assert_eq!(of_type(&got, "snapshot").len(), 1, "snapshots for one topic");
    assert_eq!(of_type(&got, "subscribed")[0]["topics"], serde_json::json!(["agents"]));
}

#[tokio::test]
async fn subscribes_past_the_rate_are_refused_with_a_reason() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    for _ in 0..200 {
        send(
            &tx,
            serde_json::json!({"type": "subscribe", "topics": ["overview"], "compact": true}),
        );
    }
    let got = until_pong(&tx, &mut rx).await;
    let snapshots = of_type(&got, "snapshot").len();
    let errors = of_type(&got, "error");
    assert!(
        snapshots <= SUBSCRIBE_BURST as usize,
        "{snapshots} snapshots for 200 subscribes"
    );
    assert!(!errors.is_empty(), "the refused ones are told why");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("subscribe"),
        "{:?}",
        errors[0]
    );
}

#[tokio::test]
async fn a_connection_watches_a_bounded_number_of_executions() {
    let h = harness().await;
    let (tx, mut rx) = h.connect(Heartbeat::default());
    let mut refused = Vec::new();
    // Slowly enough for the subscribe rate: the bound on executions is what is tested.
    for i in 0..MAX_WATCHED + 5 {
        send(
            &tx,
            serde_json::json!({"type": "subscribe", "executionId": format!("e{i}")}),
        );
        refused.extend(
            until_pong(&tx, &mut rx)
                .await
                .into_iter()
                .filter(|m| m["type"] == "error"),
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(refused[0]["message"]
        .as_str()
        .unwrap()
        .contains(&MAX_WATCHED.to_string()));
}

#[tokio::test]
async fn a_client_queue_is_bounded_in_bytes_not_only_in_messages() {
    let h = harness().await;
    let (client, mut rx) = h.live.connect();
    let big: Frame = "x".repeat(1 << 20).into();
    for _ in 0..100 {
        client.send(big.clone());
    }
    assert!(client.lagging.load(Ordering::Relaxed), "100 MiB never fit");
    let mut bytes = 0;
    while let Ok(f) = rx.try_recv() {
        bytes += f.len();
    }
    assert!(bytes <= CLIENT_QUEUE_BYTES, "{bytes} bytes queued");
}
