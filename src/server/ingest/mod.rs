//! Ingest: decoders turn requests into validated [`Event`]s; a bounded queue carries them to
//! the single pipeline task, which applies them to the hub, commits them to the store in
//! one transaction per group of batches, and only then acknowledges each producer.

pub mod abandon;
pub mod body;
pub mod budget;
pub mod ledger;
pub mod native;
pub mod redact;

pub use budget::{Budget, Lease};
pub use redact::Redactor;

use super::bus::Bus;
use super::hub::{Hub, OVERFLOW_AGENT};
use super::push::{Changes, Live};
use super::store::{BusPosition, Store};
use crate::error::{ApiError, ErrorCode};
use crate::model::{Event, IngestHealth, IngestStats};
use ledger::{current_source, Ledger};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most events applied and committed together.
const GROUP_EVENTS: usize = 50_000;
/// Most groups whose commits are under way: one being written, the next queued behind it.
const IN_FLIGHT: usize = 2;

struct Batch {
    events: Vec<Event>,
    reply: oneshot::Sender<Result<usize, ApiError>>,
    /// Written to the store (false: a fleet's follower, which only applies it to its hub).
    write: bool,
    /// A message of the fleet's stream: the position before it and its own.
    position: Option<(u64, u64)>,
}

/// Why ingest refused something (the `reason` label of `observatory_ingest_events_rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Items that failed validation (counted per item).
    Validation,
    /// Undecodable bodies: bad JSON, protobuf or gzip (one per request).
    Malformed,
    /// Bodies over the limit (one per request).
    TooLarge,
    /// An unsupported `Content-Type` or `Content-Encoding` (one per request).
    UnsupportedMediaType,
    /// Batches refused because the queue was full (counted per event).
    Overloaded,
    /// Requests over the sender's rate limit (one per request).
    RateLimited,
    /// Requests without a valid token of a role that may ingest (one per request).
    Unauthorized,
    /// Batches the store could not read for or commit (counted per event): retried, they
    /// are taken again once it recovers.
    StoreUnavailable,
}

impl Rejection {
    pub const ALL: [Rejection; 8] = [
        Self::Validation,
        Self::Malformed,
        Self::TooLarge,
        Self::UnsupportedMediaType,
        Self::Overloaded,
        Self::RateLimited,
        Self::Unauthorized,
        Self::StoreUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Overloaded => "overloaded",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::StoreUnavailable => "store_unavailable",
        }
    }

    /// The reason for a request refused as a whole.
    pub fn of(e: &ApiError) -> Self {
        match e.code {
            ErrorCode::PayloadTooLarge => Self::TooLarge,
            ErrorCode::UnsupportedMediaType => Self::UnsupportedMediaType,
            ErrorCode::Overloaded => Self::Overloaded,
            ErrorCode::TooManyRequests => Self::RateLimited,
            ErrorCode::Unauthorized | ErrorCode::Forbidden => Self::Unauthorized,
            _ => Self::Malformed,
        }
    }
}

#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    /// Events refused by validation or decoding (the `/api/health` figure).
    pub rejected: AtomicU64,
    pub overloaded: AtomicU64,
    /// Refusals per [`Rejection`], in the order of [`Rejection::ALL`].
    pub by_reason: [AtomicU64; Rejection::ALL.len()],
    /// Events stored in full whose agent's live aggregates folded into the overflow agent.
    pub folded: AtomicU64,
    /// Why the store refused the last group, until a group commits again.
    pub store_failure: parking_lot::Mutex<Option<String>>,
}

/// What a producer hears back for a durable batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Receipt {
    pub accepted: usize,
    /// Events naming an agent the live set had no room for (see [`OVERFLOW_AGENT`]).
    pub folded: usize,
}

impl Receipt {
    /// What the producer should know beyond "stored", if anything.
    pub fn warning(&self, max_agents: usize) -> Option<String> {
        (self.folded > 0).then(|| {
            format!(
                "{} of {} events name agents past the live limit `max_agents` ({max_agents}): all were stored, and their live aggregates are counted under agent `{OVERFLOW_AGENT}`",
                self.folded, self.accepted
            )
        })
    }
}

/// The producer side of the ingest queue; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Batch>,
    counters: Arc<Counters>,
    capacity: usize,
    hub: Arc<Hub>,
    /// This server's sensitive keys.
    redactor: Arc<Redactor>,
    /// Bytes of requests in flight, across every route.
    budget: Budget,
    /// The last hour, by source and reason.
    ledger: Arc<Ledger>,
    /// In a fleet, batches go to the bus, and come back to the pipeline from it.
    bus: Option<Arc<Bus>>,
}

impl Ingest {
    /// Creates the queue and starts the pipeline task.
    pub fn start(
        hub: Arc<Hub>,
        store: Arc<dyn Store>,
        live: Live,
        capacity: usize,
        redactor: Arc<Redactor>,
        budget: Budget,
        bus: Option<Arc<Bus>>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(pipeline(rx, hub.clone(), store, live, counters.clone()));
        let ingest = Self {
            tx,
            counters,
            capacity,
            hub,
            redactor,
            budget,
            ledger: Arc::default(),
            bus,
        };
        (ingest, task)
    }

    /// Queues a validated batch and waits until it is durable. Never waits for queue space:
    /// a full queue is answered at once with `overloaded` (503 + Retry-After). Nothing is
    /// refused for the live set's limits: events naming agents past `max_agents` are stored
    /// in full and folded for the live aggregates, as the receipt says.
    pub async fn submit(&self, mut events: Vec<Event>) -> Result<Receipt, ApiError> {
        if events.is_empty() {
            return Ok(Receipt::default());
        }
        events.iter_mut().for_each(|e| self.redactor.event(e));
        let n = events.len();
        self.ledger.timestamps(
            events.iter().filter_map(Event::timestamp),
            crate::server::clock::now_ms(),
        );
        let folded = self.hub.agents_to_fold(&events);
        let stored = match &self.bus {
            Some(bus) => bus.publish(events).await.map(|_| n).map_err(|e| {
                tracing::error!(error = %e, events = n, "ingest refused: the bus did not store the batch");
                ApiError::new(ErrorCode::Overloaded, format!("{e}; retry"))
            }),
            None => self.enqueue(events)?.await.map_err(|_| shutting_down())?,
        };
        match stored {
            Ok(accepted) => {
                let now = crate::server::clock::now_ms();
                self.ledger
                    .accepted(&current_source(), accepted as u64, folded as u64, now);
                Ok(Receipt { accepted, folded })
            }
            // The pipeline refuses a group only when the store cannot take it; the bus, a
            // batch only when it cannot store it.
            Err(e) => {
                self.count_rejected(Rejection::StoreUnavailable, n);
                Err(e)
            }
        }
    }

    /// Queues a batch for the pipeline, without waiting for room; resolves once it is durable.
    fn enqueue(&self, events: Vec<Event>) -> Result<oneshot::Receiver<Result<usize, ApiError>>, ApiError> {
        let n = events.len();
        let (reply, rx) = oneshot::channel();
        let batch = Batch {
            events,
            reply,
            write: true,
            position: None,
        };
        match self.tx.try_send(batch) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                self.count_rejected(Rejection::Overloaded, n);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => {
                        tracing::warn!(events = n, "ingest refused: the queue is full");
                        ApiError::new(ErrorCode::Overloaded, "the ingest queue is full; retry after 1 s")
                    }
                    mpsc::error::TrySendError::Closed(_) => shutting_down(),
                })
            }
        }
    }

    /// Applies a message of the fleet's stream (the one before it was `position.0`), writing
    /// it to the store when `write` (this instance leads); waits for room in the queue.
    /// Resolves once it is applied (and durable, when written).
    pub async fn follow(
        &self,
        events: Vec<Event>,
        write: bool,
        position: (u64, u64),
    ) -> Result<oneshot::Receiver<Result<usize, ApiError>>, ApiError> {
        let (reply, rx) = oneshot::channel();
        let batch = Batch {
            events,
            reply,
            write,
            position: Some(position),
        };
        self.tx.send(batch).await.map_err(|_| shutting_down())?;
        Ok(rx)
    }

    /// The memory budget every ingest route reads its bodies within.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Why the store refused the last group of ingest, while it goes on refusing.
    pub fn store_failure(&self) -> Option<String> {
        self.counters.store_failure.lock().clone()
    }

    /// Events folded into the overflow agent so far.
    pub fn folded(&self) -> u64 {
        self.counters.folded.load(Ordering::Relaxed)
    }

    /// Counts events or requests refused before the queue, by reason.
    pub fn count_rejected(&self, reason: Rejection, n: usize) {
        let n = n as u64;
        let source = match reason {
            Rejection::Unauthorized => Arc::from(ledger::UNAUTHENTICATED),
            _ => current_source(),
        };
        self.ledger.refused(&source, reason, n, crate::server::clock::now_ms());
        self.counters.by_reason[reason as usize].fetch_add(n, Ordering::Relaxed);
        if matches!(reason, Rejection::Validation | Rejection::Malformed) {
            self.counters.rejected.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts a request stored in part (some of its items were refused).
    pub fn count_partial(&self) {
        self.ledger.partial(&current_source(), crate::server::clock::now_ms());
    }

    /// The last hour of ingest, with the queue, the budget and the live set as they are now.
    pub fn health(&self, now: i64) -> IngestHealth {
        let report = self.ledger.report(now);
        let stats = self.stats();
        IngestHealth {
            window_minutes: ledger::WINDOW_MINUTES as u32,
            totals: report.totals,
            sources: report.sources,
            minutes: report.minutes,
            clock_skew: report.skew,
            queue_depth: stats.queue_depth,
            queue_capacity: stats.queue_capacity,
            budget_in_use: self.budget.in_use() as u64,
            budget_capacity: self.budget.capacity() as u64,
            live_agents: self.hub.agent_count() as u64,
            max_agents: self.hub.limits().max_agents as u64,
            folded_since_start: self.folded(),
            budget_refusals_since_start: self.budget.refused(),
        }
    }

    /// Refusals so far per reason, in the order of [`Rejection::ALL`].
    pub fn rejected_by_reason(&self) -> [(Rejection, u64); Rejection::ALL.len()] {
        Rejection::ALL.map(|r| (r, self.counters.by_reason[r as usize].load(Ordering::Relaxed)))
    }

    pub fn stats(&self) -> IngestStats {
        IngestStats {
            events_accepted: self.counters.accepted.load(Ordering::Relaxed),
            events_rejected: self.counters.rejected.load(Ordering::Relaxed),
            batches_rejected_overload: self.counters.overloaded.load(Ordering::Relaxed),
            queue_depth: (self.capacity - self.tx.capacity()) as u64,
            queue_capacity: self.capacity as u64,
        }
    }
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::Overloaded, "the server is shutting down")
}

type CommitResult = Result<(), super::store::StoreError>;

/// A group whose commit is under way, and who waits for it.
struct InFlight {
    commit: tokio::task::JoinHandle<CommitResult>,
    replies: Vec<(oneshot::Sender<Result<usize, ApiError>>, usize)>,
    changes: Changes,
    events: usize,
}

impl InFlight {
    /// Waits for the commit, then publishes and acknowledges (or refuses) the group; false
    /// when it failed.
    async fn finish(mut self, live: &Live, counters: &Counters) -> bool {
        let done = (&mut self.commit).await;
        self.settle(done, live, counters)
    }

    /// Publishes and acknowledges the group once its commit task `done`, or refuses it;
    /// false when it failed.
    fn settle(self, done: Result<CommitResult, tokio::task::JoinError>, live: &Live, counters: &Counters) -> bool {
        let result = match done {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the commit task failed: {e}")),
        };
        match result {
            Ok(()) => {
                counters.accepted.fetch_add(self.events as u64, Ordering::Relaxed);
                counters.store_failure.lock().take();
                // Live first: watched log lines go out before producers hear back.
                live.publish(self.changes);
                for (reply, count) in self.replies {
                    let _ = reply.send(Ok(count));
                }
                true
            }
            Err(e) => {
                tracing::error!(error = %e, events = self.events, "ingest commit failed");
                live.discard(self.changes);
                refuse(
                    self.replies,
                    counters,
                    &format!("the store could not commit the batch ({e})"),
                );
                false
            }
        }
    }
}

/// Refuses a group the store could not take: nothing of it is stored, and the producers
/// hear 503 so they retry (and count it, by source: [`Ingest::submit`]).
fn refuse(replies: Vec<(oneshot::Sender<Result<usize, ApiError>>, usize)>, counters: &Counters, why: &str) {
    *counters.store_failure.lock() = Some(why.to_string());
    for (reply, _) in replies {
        let _ = reply.send(Err(ApiError::new(
            ErrorCode::Overloaded,
            format!("{why}; nothing of it was stored: retry"),
        )));
    }
}

/// The pipeline: applies a group of batches to the hub and queues its commit while the
/// previous group's commit is still being written, so the store's writer always has the
/// next transaction waiting. At most [`IN_FLIGHT`] commits are queued; the store writes
/// them in the order they were queued, and every producer hears back only after its group
/// is durable.
async fn pipeline(
    mut rx: mpsc::Receiver<Batch>,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    live: Live,
    counters: Arc<Counters>,
) {
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(IN_FLIGHT);
    // Set by a failed commit: the hub holds what the store lacks, and is rebuilt from the
    // store before the next group is applied.
    let mut diverged = false;
    // A batch taken from the queue that starts the next group.
    let mut next: Option<Batch> = None;
    loop {
        let first = match (next.take(), in_flight.front_mut()) {
            (Some(b), _) => b,
            (None, None) => match rx.recv().await {
                Some(b) => b,
                None => break,
            },
            // Work queued while commits run is applied at once; otherwise the oldest
            // commit's producers hear back as soon as it is done.
            (None, Some(f)) => tokio::select! {
                biased;
                b = rx.recv() => match b {
                    Some(b) => b,
                    None => break,
                },
                done = &mut f.commit => {
                    if let Some(f) = in_flight.pop_front() {
                        diverged |= !f.settle(done, &live, &counters);
                    }
                    continue;
                }
            },
        };
        let write = first.write;
        let mut group = vec![first];
        let mut n = group[0].events.len();
        // A fleet's follower never mixes written and unwritten batches in one group: the
        // leader's first written message starts a new one.
        while n < GROUP_EVENTS && next.is_none() {
            match rx.try_recv() {
                Ok(b) if b.write != write => next = Some(b),
                Ok(b) => {
                    n += b.events.len();
                    group.push(b);
                }
                Err(_) => break,
            }
        }
        let position = match (group[0].position, group[group.len() - 1].position) {
            (Some((expect, _)), Some((_, to))) if write => Some(BusPosition { expect, to }),
            _ => None,
        };
        let mut events = Vec::with_capacity(n);
        let mut replies = Vec::with_capacity(group.len());
        for b in group {
            replies.push((b.reply, b.events.len()));
            events.extend(b.events);
        }

        // At most one commit under way while this group is applied: the hub evicts only
        // executions that finished in groups before this one, so with the one before it
        // durable, whatever the hub no longer holds is in the store.
        while in_flight.len() >= IN_FLIGHT || (diverged && !in_flight.is_empty()) {
            if let Some(f) = in_flight.pop_front() {
                diverged |= !f.finish(&live, &counters).await;
            }
        }
        if diverged {
            // The hub applied groups the store refused: it goes back to what is durable.
            match hub.reload(store.as_ref(), crate::server::clock::now_ms()).await {
                Ok(_) => {
                    tracing::warn!("the live state was rebuilt from the store after a failed commit");
                    diverged = false;
                    live.resync_all();
                }
                Err(e) => {
                    refuse(replies, &counters, &format!("the store is failing ({e})"));
                    continue;
                }
            }
        }
        // Executions evicted from memory come back from the store, so numbering continues;
        // without them the group would start them again, so it waits for the store.
        let unknown = hub.unknown_executions(&events);
        if !unknown.is_empty() {
            match store.executions_by_id(unknown).await {
                Ok(found) => hub.adopt(found),
                Err(e) => {
                    tracing::error!(error = %e, "loading executions for ingest failed");
                    refuse(replies, &counters, &format!("the store could not be read ({e})"));
                    continue;
                }
            }
        }

        let mut applied = hub.apply(events, crate::server::clock::now_ms());
        counters.folded.fetch_add(applied.folded, Ordering::Relaxed);
        let changes = live.changes(&mut applied);
        applied.batch.bus = position;
        // Queued now, behind the commit under way; awaited on its own task. A follower's
        // rows are the leader's to write.
        let commit: super::store::Committing = match write {
            true => store.commit(applied.batch),
            false => Box::pin(async { Ok(()) }),
        };
        in_flight.push_back(InFlight {
            commit: tokio::spawn(commit),
            replies,
            changes,
            events: n,
        });
    }
    // The queue is closed: what is in flight still commits and hears back.
    for f in in_flight {
        f.finish(&live, &counters).await;
    }
}
