//! Live fan-out to WebSocket clients. The ingest pipeline publishes what each commit
//! changed; log lines, status changes and resource samples of watched executions go out at
//! once, topic changes are coalesced and sent as deltas on a tick. Every client has a
//! bounded queue: a client that cannot keep up is marked lagging, its queue is discarded and
//! it is told to resync, so it never slows ingest or grows server memory.

mod client;
mod connection;
mod route;

use client::ExecSub;
pub use client::{Client, Inbox, CLIENT_QUEUE, CLIENT_QUEUE_BYTES, MAX_WATCHED, SUBSCRIBE_BURST, SUBSCRIBE_RATE};
pub use connection::{run_connection, Heartbeat};

use super::clock::now_ms;
use super::hub::{Applied, Hub, Retired};
use crate::model::{Execution, LogRecord, ResourceSample};
use crate::stream::protocol::{LogData, MetricsData, ServerMessage, StatusData, Topic, TopicData};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// Live lines held for one execution while its backlog is read from the store.
const MAX_BUFFERED: usize = 2048;
/// Longest a new watcher waits for the commits under way before reading its backlog.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// A message serialised once, shared by every client it goes to.
pub type Frame = Arc<str>;

fn frame(msg: &ServerMessage) -> Frame {
    serde_json::to_string(msg).expect("server messages serialise").into()
}

/// What one commit changed, for live subscribers.
#[derive(Debug, Default)]
pub struct Changes {
    pub topics: HashSet<Topic>,
    pub agents: Vec<String>,
    /// Agents that no longer exist.
    pub removed_agents: Vec<String>,
    pub executions: Vec<Execution>,
    pub status_changes: Vec<Execution>,
    pub logs: Vec<LogRecord>,
    pub resources: Vec<ResourceSample>,
    /// Numbers the changes in the order they were taken, so subscribers can wait for them.
    ticket: u64,
}

#[derive(Default)]
struct Pending {
    topics: HashSet<Topic>,
    agents: HashSet<String>,
    removed_agents: HashSet<String>,
    executions: BTreeMap<String, Execution>,
    alerts: BTreeMap<String, crate::model::Alert>,
}

struct Inner {
    hub: Arc<Hub>,
    clients: RwLock<HashMap<u64, Arc<Client>>>,
    /// execution id → clients watching it.
    watchers: RwLock<HashMap<String, HashSet<u64>>>,
    next_id: AtomicU64,
    pending: Mutex<Pending>,
    /// Per-topic sequence numbers. Held while a snapshot or a delta is queued, so every
    /// client sees snapshot N before delta N+1.
    seqs: Mutex<HashMap<Topic, u64>>,
    resyncs: AtomicU64,
    /// Tickets of changes taken, and the highest one published (or discarded): a new
    /// watcher waits for the changes taken before it saw it through, see
    /// [`Live::watch_execution`].
    taken: AtomicU64,
    settled: watch::Sender<u64>,
}

/// The live hub of WebSocket clients; cheap to clone.
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

impl Live {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self {
            inner: Arc::new(Inner {
                hub,
                clients: RwLock::default(),
                watchers: RwLock::default(),
                next_id: AtomicU64::new(1),
                pending: Mutex::default(),
                seqs: Mutex::default(),
                resyncs: AtomicU64::new(0),
                taken: AtomicU64::new(0),
                settled: watch::Sender::new(0),
            }),
        }
    }

    pub fn connections(&self) -> usize {
        self.inner.clients.read().len()
    }

    pub fn resyncs(&self) -> u64 {
        self.inner.resyncs.load(Ordering::Relaxed)
    }

    /// What a hub apply changed, for [`Live::publish`] once it is committed: of its log
    /// lines, only those some client watches.
    pub fn changes(&self, applied: &mut Applied) -> Changes {
        let b = &applied.batch;
        let watchers = self.inner.watchers.read();
        // Taken under the lock: a watcher added after it knows this ticket.
        let ticket = self.inner.taken.fetch_add(1, Ordering::Relaxed) + 1;
        Changes {
            ticket,
            topics: std::mem::take(&mut applied.topics),
            agents: b.agents.iter().map(|a| a.id.clone()).collect(),
            removed_agents: b.removed_agents.clone(),
            executions: b.executions.clone(),
            status_changes: std::mem::take(&mut applied.status_changes),
            logs: b
                .logs
                .iter()
                .filter(|l| watchers.contains_key(&l.execution_id))
                .cloned()
                .collect(),
            resources: b
                .resources
                .iter()
                .filter(|r| r.execution_id.is_some())
                .cloned()
                .collect(),
        }
    }

    fn wants_logs(&self) -> bool {
        !self.inner.watchers.read().is_empty()
    }

    pub fn connect(&self) -> (Arc<Client>, Inbox) {
        let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let rate = governor::Quota::per_second(std::num::NonZeroU32::new(SUBSCRIBE_RATE).expect("a rate"))
            .allow_burst(std::num::NonZeroU32::new(SUBSCRIBE_BURST).expect("a burst"));
        let client = Arc::new(Client {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
            queued_bytes: queued_bytes.clone(),
            subscribes: governor::RateLimiter::direct(rate),
            topics: RwLock::default(),
            executions: Mutex::default(),
            compact: AtomicBool::new(false),
            lagging: AtomicBool::new(false),
            lag: Notify::new(),
            dropped: AtomicU64::new(0),
        });
        self.inner.clients.write().insert(client.id, client.clone());
        (client, Inbox { rx, queued_bytes })
    }

    pub fn disconnect(&self, client: &Client) {
        self.inner.clients.write().remove(&client.id);
        let mut watchers = self.inner.watchers.write();
        for id in client.executions.lock().keys() {
            if let Some(set) = watchers.get_mut(id) {
                set.remove(&client.id);
                if set.is_empty() {
                    watchers.remove(id);
                }
            }
        }
    }

    /// Subscribes a client to topics: a snapshot of each now, deltas from then on.
    pub fn subscribe_topics(&self, client: &Client, topics: &[Topic], compact: bool) {
        if compact {
            client.compact.store(true, Ordering::Relaxed);
        }
        let now = now_ms();
        let seqs = self.inner.seqs.lock();
        for &topic in topics {
            client.topics.write().insert(topic);
            let seq = seqs.get(&topic).copied().unwrap_or(0);
            let data = self.topic_data(topic, None, now);
            client.send_msg(&ServerMessage::Snapshot {
                seq,
                data,
                timestamp: now,
            });
        }
    }

    pub fn unsubscribe_topics(&self, client: &Client, topics: &[Topic]) {
        let mut mine = client.topics.write();
        for t in topics {
            mine.remove(t);
        }
    }

    /// Starts watching an execution: from now on its live lines are held back until
    /// [`Live::execution_backlog_sent`] releases those newer than the backlog.
    ///
    /// Returns the ticket of the last changes taken without this watcher: their lines may
    /// still be on their way to the store, so read the backlog once [`Live::settled`] says
    /// they are through.
    pub fn watch_execution(&self, client: &Client, execution_id: &str) -> u64 {
        client
            .executions
            .lock()
            .insert(execution_id.to_string(), ExecSub::Buffering(Vec::new()));
        let mut watchers = self.inner.watchers.write();
        watchers.entry(execution_id.to_string()).or_default().insert(client.id);
        self.inner.taken.load(Ordering::Relaxed)
    }

    /// Waits until the changes up to `ticket` are published, or their commit failed.
    pub async fn settled(&self, ticket: u64) {
        let mut settled = self.inner.settled.subscribe();
        if tokio::time::timeout(SETTLE_WAIT, settled.wait_for(|&t| t >= ticket))
            .await
            .is_err()
        {
            tracing::warn!(
                ticket,
                "earlier changes still not committed; reading the backlog without them"
            );
        }
    }

    fn settle(&self, ticket: u64) {
        self.inner.settled.send_if_modified(|t| {
            let later = ticket > *t;
            if later {
                *t = ticket;
            }
            later
        });
    }

    /// Queues the backlog lines, then the held live lines newer than them, then switches the
    /// subscription to live. Returns the last sequence number sent.
    pub fn execution_backlog_sent(
        &self,
        client: &Client,
        execution_id: &str,
        backlog: Vec<LogRecord>,
        after: u64,
    ) -> u64 {
        let now = now_ms();
        let mut last = after;
        if let Some(e) = self.inner.hub.execution(execution_id) {
            client.send_msg(&status_message(&e, now));
        }
        for record in backlog {
            last = last.max(record.seq);
            client.send_msg(&log_message(record, now));
        }
        let mut subs = client.executions.lock();
        if let Some(ExecSub::Buffering(held)) = subs.insert(execution_id.to_string(), ExecSub::Live) {
            for (seq, f) in held {
                if seq > last {
                    last = seq;
                    client.send(f);
                }
            }
        }
        last
    }

    pub fn unwatch_execution(&self, client: &Client, execution_id: &str) {
        client.executions.lock().remove(execution_id);
        let mut watchers = self.inner.watchers.write();
        if let Some(set) = watchers.get_mut(execution_id) {
            set.remove(&client.id);
            if set.is_empty() {
                watchers.remove(execution_id);
            }
        }
    }

    /// Called by the ingest pipeline after each commit, in the order the changes were
    /// taken. Never waits.
    pub fn publish(&self, changes: Changes) {
        let ticket = changes.ticket;
        self.fan_out(changes);
        self.settle(ticket);
    }

    /// Called by the ingest pipeline instead of [`Live::publish`] when the commit failed.
    pub fn discard(&self, changes: Changes) {
        self.settle(changes.ticket);
    }

    fn fan_out(&self, changes: Changes) {
        let now = now_ms();
        {
            let mut p = self.inner.pending.lock();
            p.topics.extend(changes.topics.iter().copied());
            for id in changes.removed_agents {
                p.agents.remove(&id);
                p.removed_agents.insert(id);
            }
            for id in changes.agents {
                p.removed_agents.remove(&id);
                p.agents.insert(id);
            }
            for e in changes.executions {
                p.executions.insert(e.id.clone(), e);
            }
        }
        if !self.wants_logs() {
            return;
        }
        let watchers = self.inner.watchers.read();
        let clients = self.inner.clients.read();
        let targets = |id: &str| watchers.get(id).into_iter().flatten().filter_map(|c| clients.get(c));
        for e in &changes.status_changes {
            if watchers.contains_key(&e.id) {
                let f = frame(&status_message(e, now));
                targets(&e.id).for_each(|c| c.send(f.clone()));
            }
        }
        route::send_logs(changes.logs, &watchers, &clients, now);
        for r in changes.resources {
            let Some(id) = r.execution_id.as_deref() else {
                continue;
            };
            if !watchers.contains_key(id) {
                continue;
            }
            let started = self
                .inner
                .hub
                .execution(id)
                .and_then(|e| e.started_at.or(Some(e.created_at)));
            let data = MetricsData {
                memory_usage: r.memory_bytes,
                cpu_usage: r.cpu_percent,
                duration: started.map_or(0, |s| (r.timestamp - s).max(0) as u64),
            };
            let f = frame(&ServerMessage::Metrics {
                execution_id: id.to_string(),
                data,
                timestamp: r.timestamp,
            });
            targets(id).for_each(|c| c.send(f.clone()));
        }
    }

    /// The hub was rebuilt from the store: every client starts again from snapshots.
    pub fn resync_all(&self) {
        for c in self.inner.clients.read().values() {
            c.lagging.store(true, Ordering::Relaxed);
            c.lag.notify_one();
        }
    }

    /// Entities left the live set ([`Hub::retire`]): the next deltas say so.
    pub fn retired(&self, r: &Retired) {
        if r.is_empty() {
            return;
        }
        let mut p = self.inner.pending.lock();
        p.topics.insert(Topic::Overview);
        for (topic, any) in [
            (Topic::Agents, !r.agents.is_empty()),
            (Topic::Plugins, r.tools > 0),
            (Topic::Llm, r.models > 0),
            (Topic::Workflows, r.workflows > 0),
            (Topic::System, r.hosts > 0),
        ] {
            if any {
                p.topics.insert(topic);
            }
        }
        for id in &r.agents {
            p.agents.remove(id);
            p.removed_agents.insert(id.clone());
        }
    }

    /// Alerts changed: they go out with the next deltas; newly firing ones also go out at
    /// once as MoFA `alert` messages to every subscribed client.
    pub fn publish_alerts(&self, changed: Vec<crate::model::Alert>, fired: Vec<crate::model::Alert>) {
        {
            let mut p = self.inner.pending.lock();
            p.topics.insert(Topic::Alerts);
            p.topics.insert(Topic::Overview);
            for a in changed {
                p.alerts.insert(a.id.clone(), a);
            }
        }
        let now = now_ms();
        let clients = self.inner.clients.read();
        for a in fired {
            let f = frame(&ServerMessage::Alert {
                level: a.severity.as_str().into(),
                message: a.summary.clone(),
                source: a.rule.clone(),
                timestamp: now,
            });
            for c in clients.values().filter(|c| !c.topics.read().is_empty()) {
                c.send(f.clone());
            }
        }
    }

    /// Sends the coalesced deltas of every changed topic. Runs on the `ws_interval` tick.
    pub fn flush(&self) {
        let pending = std::mem::take(&mut *self.inner.pending.lock());
        if pending.topics.is_empty() {
            return;
        }
        let now = now_ms();
        let clients: Vec<Arc<Client>> = self.inner.clients.read().values().cloned().collect();
        let mut seqs = self.inner.seqs.lock();
        let mofa: Vec<&Arc<Client>> = clients
            .iter()
            .filter(|c| !c.compact.load(Ordering::Relaxed) && !c.topics.read().is_empty())
            .collect();
        let mut payload = serde_json::Map::new();
        for topic in Topic::ALL.into_iter().filter(|t| pending.topics.contains(t)) {
            let seq = seqs.entry(topic).or_insert(0);
            *seq += 1;
            let subscribers: Vec<&Arc<Client>> = clients.iter().filter(|c| c.topics.read().contains(&topic)).collect();
            // Nobody to send it to: the topic's data is not even built (seq still counts).
            if subscribers.is_empty() && mofa.is_empty() {
                continue;
            }
            let data = self.topic_data(topic, Some(&pending), now);
            if !mofa.is_empty() {
                if let Ok(v) = serde_json::to_value(&data) {
                    if let Some(d) = v.get("data") {
                        payload.insert(topic.as_str().to_string(), d.clone());
                    }
                }
            }
            if subscribers.is_empty() {
                continue;
            }
            let removed = match topic {
                Topic::Agents => pending.removed_agents.iter().cloned().collect(),
                _ => vec![],
            };
            let f = frame(&ServerMessage::Delta {
                seq: *seq,
                data,
                removed,
                timestamp: now,
            });
            for c in subscribers {
                c.send(f.clone());
            }
        }
        if !mofa.is_empty() {
            let f = frame(&ServerMessage::MetricsUpdate {
                payload: serde_json::Value::Object(payload),
                timestamp: now,
            });
            mofa.iter().for_each(|c| c.send(f.clone()));
        }
    }

    /// A topic's data: everything (snapshot) or what changed (delta). Small topics always
    /// travel whole.
    fn topic_data(&self, topic: Topic, changed: Option<&Pending>, now: i64) -> TopicData {
        let hub = &self.inner.hub;
        match topic {
            Topic::Overview => TopicData::Overview(hub.overview(now)),
            Topic::Agents => TopicData::Agents(match changed {
                None => hub.agents(now),
                Some(p) => p.agents.iter().filter_map(|id| hub.agent(id, now)).collect(),
            }),
            Topic::Executions => TopicData::Executions(match changed {
                None => hub.recent_executions(crate::stream::state::MAX_EXECUTIONS),
                Some(p) => p.executions.values().cloned().collect(),
            }),
            Topic::Workflows => TopicData::Workflows(hub.workflows()),
            Topic::Llm => TopicData::Llm(hub.llm(now)),
            Topic::Plugins => TopicData::Plugins(hub.plugins()),
            Topic::System => TopicData::System(hub.system()),
            Topic::Alerts => TopicData::Alerts(match changed {
                None => hub.alerts(),
                Some(p) => p.alerts.values().cloned().collect(),
            }),
        }
    }

    /// Runs [`Live::flush`] every `interval` until the task is aborted.
    pub async fn run(self, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.flush();
        }
    }
}

fn log_message(record: LogRecord, now: i64) -> ServerMessage {
    ServerMessage::Log {
        execution_id: record.execution_id.clone(),
        data: LogData {
            log: record.message.clone(),
            record,
        },
        timestamp: now,
    }
}

fn status_message(e: &Execution, now: i64) -> ServerMessage {
    ServerMessage::Status {
        execution_id: e.id.clone(),
        data: StatusData {
            status: e.status,
            output: e.output.clone(),
            error: e.error.clone(),
            execution: Box::new(e.clone()),
        },
        timestamp: now,
    }
}

/// The topics of these names, each once, or the first unknown name.
pub fn known_topics(names: &[String]) -> Result<Vec<Topic>, String> {
    let mut topics = Vec::new();
    for n in names {
        let t = Topic::named(n).ok_or_else(|| n.clone())?;
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    Ok(topics)
}

#[cfg(test)]
mod tests;
