//! One WebSocket connection, written over any `Sink`/`Stream` of messages so tests can
//! drive it with channels.

use super::{known_topics, Client, Inbox, Live, MAX_WATCHED, SUBSCRIBE_BURST, SUBSCRIBE_RATE};
use crate::server::clock::now_ms;
use crate::server::store::Store;
use crate::stream::protocol::{ClientMessage, ServerMessage, Subscription};
use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Largest client message accepted.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Most log lines sent when resuming an execution after a sequence number.
const MAX_RESUME: u64 = 2000;
/// Queued bytes written with one flush.
const WRITE_BATCH_BYTES: usize = 32 * 1024;
/// A socket that accepts nothing for this long is closed: the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// The server pings this often.
    pub ping_every: Duration,
    /// A peer silent this long is closed.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
        }
    }
}

/// Serves one client until it leaves, falls silent, the socket fails, or `ended` completes
/// (the browser session it was opened in ended).
pub async fn run_connection<Si, St, E>(
    live: Live,
    store: Arc<dyn Store>,
    backlog: u64,
    heartbeat: Heartbeat,
    (mut sink, mut stream): (Si, St),
    ended: impl std::future::Future<Output = ()>,
) where
    Si: Sink<Message> + Unpin,
    St: Stream<Item = Result<Message, E>> + Unpin,
{
    let (client, mut rx) = live.connect();
    tracing::debug!(client = client.id, "websocket connected");
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat.ping_every, heartbeat.ping_every);
    let mut last_heard = Instant::now();
    let mut ended = std::pin::pin!(ended);
    let reason = loop {
        tokio::select! {
            () = &mut ended => {
                let close = CloseFrame { code: 1008, reason: "the session ended: sign in again".into() };
                let _ = sink.send(Message::Close(Some(close))).await;
                break "session ended";
            }
            out = rx.recv() => {
                let Some(f) = out else { break "closed" };
                match tokio::time::timeout(SEND_TIMEOUT, write_queued(&mut sink, f, &mut rx)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break "send failed",
                    Err(_) => break "client stopped reading",
                }
            }
            incoming = stream.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        handle(&live, &store, backlog, &client, text.as_str()).await;
                    }
                    Some(Ok(Message::Binary(_))) => client.send_msg(&error("binary frames are not supported: send JSON text")),
                    Some(Ok(Message::Close(_))) | None => break "client closed",
                    Some(Ok(_)) => {} // ping / pong
                    Some(Err(_)) => break "receive failed",
                }
            }
            _ = client.lag.notified() => {
                resync(&live, &client, &mut rx);
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > heartbeat.timeout {
                    let close = CloseFrame { code: 1001, reason: "heartbeat timeout: no message for 60 s".into() };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    break "heartbeat timeout";
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break "ping failed";
                }
            }
        }
    };
    live.disconnect(&client);
    tracing::debug!(
        client = client.id,
        reason,
        dropped = client.dropped.load(Ordering::Relaxed),
        "websocket closed"
    );
}

/// Writes `first` and what else is queued (up to [`WRITE_BATCH_BYTES`]) with one flush: a
/// busy execution's lines go out in a few writes, not one system call each.
async fn write_queued<Si: Sink<Message> + Unpin>(
    sink: &mut Si,
    first: super::Frame,
    rx: &mut Inbox,
) -> Result<(), Si::Error> {
    let mut bytes = first.len();
    sink.feed(Message::Text(first.as_ref().into())).await?;
    while bytes < WRITE_BATCH_BYTES {
        let Ok(f) = rx.try_recv() else { break };
        bytes += f.len();
        sink.feed(Message::Text(f.as_ref().into())).await?;
    }
    sink.flush().await
}

/// The client fell behind: drop what is queued, forget its subscriptions and tell it to
/// subscribe again (topics from a snapshot, executions from their last sequence number).
fn resync(live: &Live, client: &Client, rx: &mut Inbox) {
    if !client.lagging.load(Ordering::Relaxed) {
        return;
    }
    while rx.try_recv().is_ok() {}
    let executions: Vec<String> = client.executions.lock().keys().cloned().collect();
    for id in executions {
        live.unwatch_execution(client, &id);
    }
    client.topics.write().clear();
    live.inner.resyncs.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        client = client.id,
        dropped = client.dropped.load(Ordering::Relaxed),
        "slow websocket client resynced"
    );
    client.lagging.store(false, Ordering::Relaxed);
    client.send_msg(&ServerMessage::Resync {
        reason: "the client fell behind; subscribe again".into(),
        timestamp: now_ms(),
    });
}

fn error(message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        message: message.into(),
        timestamp: now_ms(),
    }
}

async fn handle(live: &Live, store: &Arc<dyn Store>, backlog: u64, client: &Client, text: &str) {
    if text.len() > MAX_CLIENT_MESSAGE {
        return client.send_msg(&error(format!(
            "message is {} bytes; the limit is {MAX_CLIENT_MESSAGE}",
            text.len()
        )));
    }
    let msg: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return client.send_msg(&error(format!(
                "invalid message: {e}; expected {{\"type\":\"subscribe\"|\"unsubscribe\"|\"ping\", \"topics\":[…] or \"executionId\":\"…\"}}"
            )))
        }
    };
    match msg {
        ClientMessage::Ping => client.send_msg(&ServerMessage::Pong { timestamp: now_ms() }),
        ClientMessage::Subscribe(sub) => subscribe(live, store, backlog, client, sub).await,
        ClientMessage::Unsubscribe(sub) => {
            match known_topics(&sub.topics) {
                Ok(topics) => live.unsubscribe_topics(client, &topics),
                Err(bad) => return client.send_msg(&error(format!("unknown topic `{bad}`"))),
            }
            if let Some(id) = sub.execution_id {
                live.unwatch_execution(client, &id);
            }
        }
    }
}

async fn subscribe(live: &Live, store: &Arc<dyn Store>, backlog: u64, client: &Client, sub: Subscription) {
    if sub.topics.is_empty() && sub.execution_id.is_none() {
        return client.send_msg(&error("subscribe needs `topics` (a list) or `executionId`"));
    }
    if !client.may_subscribe() {
        return client.send_msg(&error(format!(
            "too many subscribe messages: at most {SUBSCRIBE_RATE} a second (bursts of {SUBSCRIBE_BURST}); this one was ignored"
        )));
    }
    let topics = match known_topics(&sub.topics) {
        Ok(t) => t,
        Err(bad) => {
            return client.send_msg(&error(format!(
                "unknown topic `{bad}`; topics are {}",
                crate::stream::protocol::Topic::ALL.map(|t| t.as_str()).join(", ")
            )))
        }
    };
    if !topics.is_empty() {
        live.subscribe_topics(client, &topics, sub.compact);
        client.send_msg(&ServerMessage::Subscribed {
            execution_id: None,
            topics: topics.iter().map(|t| t.as_str().to_string()).collect(),
            last_seq: None,
            timestamp: now_ms(),
        });
    }
    let Some(id) = sub.execution_id else { return };
    if id.is_empty() || id.len() > 256 {
        return client.send_msg(&error("executionId must be 1 to 256 bytes"));
    }
    let full = {
        let watching = client.executions.lock();
        watching.len() >= MAX_WATCHED && !watching.contains_key(&id)
    };
    if full {
        return client.send_msg(&error(format!(
            "a connection watches at most {MAX_WATCHED} executions: unsubscribe from one before watching `{id}`"
        )));
    }
    // Watch first, then read the backlog once the commits under way are through: lines
    // committed before are read, lines after are held back, lines both read and held back
    // are sent once.
    let ticket = live.watch_execution(client, &id);
    live.settled(ticket).await;
    let lines = match sub.after_seq {
        Some(after) => store.logs(&id, after, MAX_RESUME).await,
        None => store.tail_logs(&id, backlog).await,
    };
    let lines = match lines {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, execution = %id, "reading log backlog failed");
            live.unwatch_execution(client, &id);
            return client.send_msg(&error("could not read the execution's logs; subscribe again"));
        }
    };
    let last = live.execution_backlog_sent(client, &id, lines, sub.after_seq.unwrap_or(0));
    client.send_msg(&ServerMessage::Subscribed {
        execution_id: Some(id),
        topics: Vec::new(),
        last_seq: Some(last),
        timestamp: now_ms(),
    });
}
