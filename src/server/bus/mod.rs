//! The fleet's bus (`--bus nats://HOST:PORT`): one NATS JetStream stream carries every
//! validated ingest batch, in one order, for every instance to follow; core NATS subjects
//! carry what instances tell each other (alert commands for the leader, "the alerts or the
//! sessions changed: read them again").
//!
//! A batch is acknowledged to its producer once JetStream has stored it (the `PubAck`): the
//! stream is the fleet's write-ahead log, and whichever instance leads writes it to the store,
//! exactly once, recording the stream position in the same transaction.

pub mod scratch;
pub mod wire;

use crate::model::Event;
use async_nats::jetstream::{self, consumer, stream};
use futures::{Stream, StreamExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a stored batch stays in the stream when no leader writes it (the leader purges
/// what is written well before).
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Producers' retries of one message within this window are stored once (`Nats-Msg-Id`).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Room left in a message for its headers.
const HEADER_ROOM: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach NATS at {url}: {why}")]
    Connect { url: String, why: String },
    #[error("the JetStream stream `{stream}` is not usable: {why}")]
    Stream { stream: String, why: String },
    #[error("{0}")]
    Wire(#[from] wire::WireError),
    #[error("the bus did not store part {part} of {parts} of the batch ({why})")]
    Publish { part: usize, parts: usize, why: String },
    #[error("following the stream failed: {0}")]
    Follow(String),
    #[error("{0}")]
    Request(String),
}

/// Whether this instance leads the fleet: writes the stream to the store, evaluates alerts,
/// runs retention and ends abandoned executions. Alone (no bus), it always leads.
#[derive(Debug)]
pub struct Role {
    fleet: bool,
    leading: AtomicBool,
}

impl Role {
    pub fn solo() -> Arc<Self> {
        Arc::new(Self {
            fleet: false,
            leading: AtomicBool::new(true),
        })
    }

    pub fn follower() -> Arc<Self> {
        Arc::new(Self {
            fleet: true,
            leading: AtomicBool::new(false),
        })
    }

    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Part of a fleet (there is a bus).
    pub fn in_fleet(&self) -> bool {
        self.fleet
    }

    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Release);
    }
}

/// One message of the stream, decoded.
#[derive(Debug)]
pub struct Delivery {
    /// Its stream sequence: the batch's id and position.
    pub seq: u64,
    pub events: Vec<Event>,
}

/// A connection to the bus; cheap to share.
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    /// The stream's name, also the prefix of every subject.
    name: String,
    /// Largest message the server takes.
    max_payload: usize,
    /// The last message this instance applied.
    applied: AtomicU64,
    /// Whether this instance follows the stream now (not while it rebuilds from the store).
    following: AtomicBool,
}

impl Bus {
    /// Connects and makes sure the stream exists (file storage; created by the first instance).
    pub async fn connect(url: &str, name: &str) -> Result<Arc<Self>, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("observatory {}", crate::server::clock::now_ms()))
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| BusError::Connect {
                url: url.into(),
                why: e.to_string(),
            })?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::new(client.clone());
        let config = stream::Config {
            name: name.into(),
            subjects: vec![format!("{name}.ingest")],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            // A full stream refuses new batches (503) rather than dropping unwritten ones.
            discard: stream::DiscardPolicy::New,
            max_age: MAX_AGE,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| BusError::Stream {
            stream: name.into(),
            why: e.to_string(),
        })?;
        Ok(Arc::new(Self {
            client,
            js,
            name: name.into(),
            max_payload,
            applied: AtomicU64::new(0),
            following: AtomicBool::new(false),
        }))
    }

    pub fn subject(&self, what: &str) -> String {
        format!("{}.{what}", self.name)
    }

    /// Appends the batch to the stream; resolves with the sequence of its last message once
    /// JetStream has stored every part. A batch larger than one message goes as several,
    /// each stored on its own: when a part fails, the error names it (parts before it were
    /// stored and will be written).
    pub async fn publish(&self, events: Vec<Event>) -> Result<u64, BusError> {
        let messages = wire::encode(events, self.max_payload.saturating_sub(HEADER_ROOM).max(1024))?;
        let parts = messages.len();
        let batch = format!("{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
        let subject = self.subject("ingest");
        let mut acks = Vec::with_capacity(parts);
        for (i, m) in messages.into_iter().enumerate() {
            let publish = jetstream::context::Publish::build()
                .payload(m.into())
                .message_id(format!("{batch}-{i}"));
            let ack = self
                .js
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|e| BusError::Publish {
                    part: i + 1,
                    parts,
                    why: e.to_string(),
                })?;
            acks.push(ack);
        }
        let mut last = 0;
        for (i, ack) in acks.into_iter().enumerate() {
            last = ack
                .await
                .map_err(|e| BusError::Publish {
                    part: i + 1,
                    parts,
                    why: e.to_string(),
                })?
                .sequence;
        }
        Ok(last)
    }

    /// The stream from sequence `from` on, in order, one decoded batch at a time (an ordered
    /// consumer of this instance's own: nothing is acknowledged, nothing is shared).
    pub async fn follow(&self, from: u64) -> Result<impl Stream<Item = Result<Delivery, BusError>> + use<>, BusError> {
        let follow = |e: &dyn std::fmt::Display| BusError::Follow(e.to_string());
        let stream = self.stream().await?;
        let deliver_policy = match from {
            0 | 1 => consumer::DeliverPolicy::All,
            n => consumer::DeliverPolicy::ByStartSequence { start_sequence: n },
        };
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy,
                filter_subject: self.subject("ingest"),
                ..Default::default()
            })
            .await
            .map_err(|e| follow(&e))?;
        let messages = consumer.messages().await.map_err(|e| follow(&e))?;
        Ok(messages.map(|m| {
            let m = m.map_err(|e| BusError::Follow(e.to_string()))?;
            let info = m.info().map_err(|e| BusError::Follow(e.to_string()))?;
            let seq = info.stream_sequence;
            let events = wire::decode(&m.payload).map_err(|e| BusError::Follow(format!("message {seq}: {e}")))?;
            Ok(Delivery { seq, events })
        }))
    }

    /// Notes the last message handed to the hub.
    pub fn set_applied(&self, seq: u64) {
        self.applied.store(seq, Ordering::Relaxed);
    }

    /// The last message handed to the hub (at start: the position of the snapshot it was
    /// rebuilt from).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Notes whether this instance follows the stream (its hub rebuilt and up to date).
    pub fn set_following(&self, following: bool) {
        self.following.store(following, Ordering::Relaxed);
    }

    pub fn following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// The stream's last sequence, and the last message this instance applied.
    pub async fn position(&self) -> Result<(u64, u64), BusError> {
        // Looking the stream up reads its state: one round trip.
        let last = self.stream().await?.cached_info().state.last_sequence;
        Ok((last, self.applied()))
    }

    /// Removes the messages before `seq` (written to the store by the leader).
    pub async fn purge_before(&self, seq: u64) -> Result<u64, BusError> {
        let stream = self.stream().await?;
        let purged = stream.purge().sequence(seq).await.map_err(|e| self.unusable(e))?;
        Ok(purged.purged)
    }

    /// Deletes the stream (tests' scratch streams).
    pub async fn delete_stream(&self) -> Result<(), BusError> {
        self.js
            .delete_stream(&self.name)
            .await
            .map(drop)
            .map_err(|e| self.unusable(e))
    }

    async fn stream(&self) -> Result<stream::Stream, BusError> {
        self.js.get_stream(&self.name).await.map_err(|e| self.unusable(e))
    }

    fn unusable(&self, e: impl std::fmt::Display) -> BusError {
        BusError::Stream {
            stream: self.name.clone(),
            why: e.to_string(),
        }
    }

    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Tells every instance something changed (`subject` under the stream's prefix); at most
    /// once, so receivers also read again on a timer.
    pub async fn notify(&self, what: &str, payload: Vec<u8>) {
        if let Err(e) = self.client.publish(self.subject(what), payload.into()).await {
            tracing::warn!(error = %e, what, "telling the fleet failed; it reads again on its timer");
        }
    }

    pub async fn subscribe(&self, what: &str) -> Result<async_nats::Subscriber, BusError> {
        self.client
            .subscribe(self.subject(what))
            .await
            .map_err(|e| BusError::Request(e.to_string()))
    }

    /// Asks whoever answers on `what` (the leader), within `timeout`.
    pub async fn request(&self, what: &str, payload: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, BusError> {
        let request = self.client.request(self.subject(what), payload.into());
        match tokio::time::timeout(timeout, request).await {
            Ok(Ok(m)) => Ok(m.payload.to_vec()),
            Ok(Err(e)) => Err(BusError::Request(format!(
                "no instance leads the fleet right now ({e}); retry"
            ))),
            Err(_) => Err(BusError::Request(format!(
                "the fleet's leader did not answer within {} s; retry",
                timeout.as_secs()
            ))),
        }
    }

    /// Answers a request.
    pub async fn reply(&self, to: async_nats::Subject, payload: Vec<u8>) {
        if let Err(e) = self.client.publish(to, payload.into()).await {
            tracing::warn!(error = %e, "answering over the bus failed");
        }
    }
}
