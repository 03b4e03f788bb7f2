//! Alerting: rules evaluated on a tick over the hub's aggregates, the lifecycle of each
//! alert, acknowledgements and silences from the UI, persisted in the store, pushed live and
//! sent to receivers.

pub mod defaults;
pub mod evaluate;
pub mod fleet;
pub mod lifecycle;
pub mod notify;
pub mod rule;

use super::clock::{human_duration, now_ms};
use super::hub::Hub;
use super::push::Live;
use super::store::{Store, WriteBatch};
use crate::error::{ApiError, ErrorCode};
use crate::model::{AckRequest, Alert, AlertEvent, AlertState, AlertsView, Silence, SilenceRequest};
use evaluate::{Inputs, QueueLoad};
use lifecycle::{Book, Change};
use notify::{Notifier, Reason, ReceiverConfig};
use parking_lot::Mutex;
use rule::Rule;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// History lines kept in memory for the alerts page.
const HISTORY: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// How often rules are evaluated.
    #[serde(with = "human_duration")]
    pub eval_interval: Duration,
    /// Include the built-in rules (error rate, latency, silent and stuck agents, LLM errors
    /// and latency, cost, host memory, ingest backlog) beside `rules`.
    pub default_rules: bool,
    pub rules: Vec<Rule>,
    pub receivers: Vec<ReceiverConfig>,
    /// Re-notify a firing alert that nobody acknowledged or silenced this often.
    #[serde(with = "human_duration")]
    pub repeat_interval: Duration,
    /// Base URL of this Observatory, for links in notifications.
    pub external_url: Option<String>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            eval_interval: Duration::from_secs(5),
            default_rules: true,
            rules: Vec::new(),
            receivers: Vec::new(),
            repeat_interval: Duration::from_secs(4 * 3600),
            external_url: None,
        }
    }
}

impl AlertingConfig {
    pub fn all_rules(&self) -> Vec<Rule> {
        let mut rules = if self.default_rules {
            defaults::defaults()
        } else {
            Vec::new()
        };
        for r in &self.rules {
            rules.retain(|d| d.name != r.name);
            rules.push(r.clone());
        }
        rules
    }
}

struct Engine {
    rules: Vec<Rule>,
    book: Mutex<Book>,
    history: Mutex<VecDeque<AlertEvent>>,
    /// Serialises every change-then-commit, so commits land in the order changes were made.
    op: tokio::sync::Mutex<()>,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    live: Live,
    notifier: Notifier,
    repeat: Duration,
    /// fingerprint → last notification time, for repeats.
    notified: Mutex<HashMap<String, i64>>,
    next_silence: AtomicU64,
    /// Set in a fleet: only its leader changes the book (`fleet.rs`).
    fleet: Option<fleet::Link>,
}

/// The alerting handle; cheap to clone.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Engine>,
}

impl Alerts {
    /// Restores alerts, silences and history from the store.
    pub async fn open(
        config: &AlertingConfig,
        external_url: String,
        hub: Arc<Hub>,
        store: Arc<dyn Store>,
        live: Live,
        fleet: Option<fleet::Link>,
    ) -> anyhow::Result<Self> {
        let (book, history) = load(store.as_ref()).await?;
        let next_silence = book.silences.len() as u64 + 1;
        let engine = Engine {
            rules: config.all_rules(),
            book: Mutex::new(book),
            history: Mutex::new(history),
            op: tokio::sync::Mutex::new(()),
            hub,
            store,
            live,
            notifier: Notifier::new(
                config.receivers.clone(),
                config.external_url.clone().unwrap_or(external_url),
            ),
            repeat: config.repeat_interval,
            notified: Mutex::default(),
            next_silence: AtomicU64::new(next_silence),
            fleet,
        };
        let alerts = Self {
            inner: Arc::new(engine),
        };
        alerts.publish(Vec::new());
        Ok(alerts)
    }

    /// Reads the book again from the store (in a fleet: what the leader changed), and
    /// pushes the alerts that differ.
    pub async fn reload(&self) {
        let e = &self.inner;
        let _op = e.op.lock().await;
        let (book, history) = match load(e.store.as_ref()).await {
            Ok(loaded) => loaded,
            Err(err) => {
                tracing::warn!(error = %err, "reading the alerts again failed; keeping the book as it was");
                return;
            }
        };
        let changes: Vec<(Alert, AlertEvent)> = {
            let old = e.book.lock();
            let before = |a: &Alert| {
                old.active
                    .get(&a.fingerprint)
                    .or_else(|| old.resolved.iter().rev().find(|r| r.id == a.id))
                    .cloned()
            };
            book.active
                .values()
                .chain(book.resolved.iter())
                .filter_map(|a| {
                    let was = before(a);
                    (was.as_ref() != Some(a)).then(|| {
                        let kind = match (&was, a.state) {
                            (Some(w), AlertState::Firing) if w.state == AlertState::Firing => "changed",
                            (_, AlertState::Firing) => Change::Firing.kind(),
                            _ => "changed",
                        };
                        let event = AlertEvent {
                            alert_id: a.id.clone(),
                            rule: a.rule.clone(),
                            at: a.updated_at,
                            kind: kind.into(),
                            by: None,
                            note: None,
                            value: Some(a.value),
                        };
                        (a.clone(), event)
                    })
                })
                .collect()
        };
        *e.book.lock() = book;
        *e.history.lock() = history;
        self.publish(changes);
    }

    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// Names of receivers whose last delivery failed (for readiness).
    pub fn failing_receivers(&self) -> Vec<String> {
        self.inner.notifier.failing()
    }

    pub fn view(&self) -> AlertsView {
        let book = self.inner.book.lock();
        let mut alerts: Vec<Alert> = book.active.values().cloned().collect();
        alerts.sort_by(|a, b| {
            b.state
                .cmp(&a.state)
                .then(b.severity.cmp(&a.severity))
                .then(b.started_at.cmp(&a.started_at))
        });
        alerts.extend(book.resolved.iter().rev().cloned());
        let mut silences: Vec<Silence> = book.silences.values().cloned().collect();
        silences.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        AlertsView {
            alerts,
            silences,
            history: self.inner.history.lock().iter().rev().cloned().collect(),
            receivers: self.inner.notifier.statuses(),
            rules: self.inner.rules.iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// Active alerts a silence with these matchers would mute now.
    pub fn preview(&self, matchers: crate::model::Labels) -> Vec<Alert> {
        let s = Silence {
            matchers,
            starts_at: 0,
            ends_at: i64::MAX,
            ..Default::default()
        };
        self.inner.book.lock().preview(&s).into_iter().cloned().collect()
    }

    /// Evaluates every rule once.
    pub async fn evaluate(&self, ingest_depth: u64, ingest_capacity: u64) {
        let e = &self.inner;
        let _op = e.op.lock().await;
        let now = now_ms();
        let input = Inputs {
            fleet: e.hub.facts(now),
            ingest: QueueLoad {
                depth: ingest_depth,
                capacity: ingest_capacity,
            },
        };
        let mut changes = Vec::new();
        {
            let mut book = e.book.lock();
            for rule in &e.rules {
                let observations = evaluate::evaluate(&rule.condition, &input);
                changes.extend(book.advance(rule, observations, now));
            }
            changes.extend(book.housekeeping(now));
        }
        let mut notify: Vec<(Alert, Reason)> = Vec::new();
        for (alert, ev) in &changes {
            match ev.kind.as_str() {
                "firing" => notify.push((alert.clone(), Reason::Firing)),
                "resolved" => notify.push((alert.clone(), Reason::Resolved)),
                _ => {}
            }
        }
        // Repeats for firing alerts nobody has acknowledged or silenced.
        {
            let book = e.book.lock();
            let notified = e.notified.lock();
            for a in book
                .active
                .values()
                .filter(|a| a.state == AlertState::Firing && a.ack.is_none() && a.silenced_by.is_none())
            {
                if notified
                    .get(&a.fingerprint)
                    .is_some_and(|t| now - t >= e.repeat.as_millis() as i64)
                {
                    notify.push((a.clone(), Reason::Repeat));
                }
            }
        }
        if changes.is_empty() && notify.is_empty() {
            return;
        }
        if let Err(err) = self.commit(changes.clone(), None).await {
            tracing::error!(error = %err, "persisting alert changes failed");
        }
        let changed = !changes.is_empty();
        self.publish(changes);
        self.notify(notify, now);
        if changed {
            self.tell_fleet().await;
        }
    }

    pub async fn acknowledge(&self, id: &str, req: AckRequest) -> Result<Alert, ApiError> {
        if req.by.len() > 256 || req.note.len() > 4096 {
            return Err(ApiError::bad_request("`by` is limited to 256 bytes and `note` to 4096"));
        }
        let command = fleet::Command::Acknowledge {
            id: id.into(),
            req: req.clone(),
        };
        if let Some(answer) = self.forwarded(command).await {
            return answer;
        }
        let e = &self.inner;
        let _op = e.op.lock().await;
        let now = now_ms();
        let expires = req.expires_in_minutes.map(|m| now + m as i64 * 60_000);
        // Changed on a copy that becomes the book once durable: a refused commit leaves no trace.
        let mut book = e.book.lock().clone();
        let change = book.acknowledge(id, &req.by, &req.note, expires, now)?;
        self.commit(vec![change.clone()], None).await?;
        *e.book.lock() = book;
        tracing::info!(alert = %id, by = %req.by, "alert acknowledged");
        let alert = change.0.clone();
        self.publish(vec![change]);
        self.notify(vec![(alert.clone(), Reason::Acknowledged)], now);
        self.tell_fleet().await;
        Ok(alert)
    }

    pub async fn unacknowledge(&self, id: &str, by: &str) -> Result<Alert, ApiError> {
        let command = fleet::Command::Unacknowledge {
            id: id.into(),
            by: by.into(),
        };
        if let Some(answer) = self.forwarded(command).await {
            return answer;
        }
        let e = &self.inner;
        let _op = e.op.lock().await;
        let mut book = e.book.lock().clone();
        let change = book.unacknowledge(id, by, now_ms())?;
        self.commit(vec![change.clone()], None).await?;
        *e.book.lock() = book;
        let alert = change.0.clone();
        self.publish(vec![change]);
        self.tell_fleet().await;
        Ok(alert)
    }

    pub async fn silence(&self, req: SilenceRequest) -> Result<Silence, ApiError> {
        if req.matchers.is_empty() {
            return Err(ApiError::bad_request(
                "`matchers` must have at least one label: a silence without matchers would mute everything",
            ));
        }
        if req.duration_minutes == 0 || req.duration_minutes > 60 * 24 * 90 {
            return Err(ApiError::bad_request(
                "`duration_minutes` must be between 1 and 129600 (90 days)",
            ));
        }
        if req.created_by.trim().is_empty() {
            return Err(ApiError::bad_request("`created_by` must name who silences"));
        }
        if let Some(answer) = self.forwarded(fleet::Command::Silence(req.clone())).await {
            return answer;
        }
        let e = &self.inner;
        let _op = e.op.lock().await;
        let now = now_ms();
        let silence = Silence {
            id: format!("silence-{now}-{}", e.next_silence.fetch_add(1, Ordering::Relaxed)),
            matchers: req.matchers,
            starts_at: now,
            ends_at: now + req.duration_minutes as i64 * 60_000,
            created_by: req.created_by.trim().into(),
            comment: req.comment,
            created_at: now,
        };
        let mut book = e.book.lock().clone();
        book.silences.insert(silence.id.clone(), silence.clone());
        let changes = book.housekeeping(now);
        self.commit(changes.clone(), Some(&silence)).await?;
        *e.book.lock() = book;
        self.publish(changes);
        self.tell_fleet().await;
        Ok(silence)
    }

    pub async fn expire_silence(&self, id: &str, by: &str) -> Result<Silence, ApiError> {
        let command = fleet::Command::ExpireSilence {
            id: id.into(),
            by: by.into(),
        };
        if let Some(answer) = self.forwarded(command).await {
            return answer;
        }
        let e = &self.inner;
        let _op = e.op.lock().await;
        let now = now_ms();
        let mut book = e.book.lock().clone();
        let (silence, changes) = {
            let s = book
                .silences
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found("silence", id))?;
            if s.ends_at <= now {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("silence `{id}` has already ended"),
                ));
            }
            s.ends_at = now;
            if !by.is_empty() {
                s.comment = format!("{} (expired by {by})", s.comment).trim().to_string();
            }
            let s = s.clone();
            (s, book.housekeeping(now + 1))
        };
        self.commit(changes.clone(), Some(&silence)).await?;
        *e.book.lock() = book;
        self.publish(changes);
        self.tell_fleet().await;
        Ok(silence)
    }

    /// Writes changed alerts, their history lines and (when given) a silence in one commit.
    async fn commit(&self, changes: Vec<(Alert, AlertEvent)>, silence: Option<&Silence>) -> Result<(), ApiError> {
        let (alerts, alert_events): (Vec<Alert>, Vec<AlertEvent>) = changes.into_iter().unzip();
        let silences = silence.into_iter().cloned().collect();
        let batch = WriteBatch {
            alerts,
            alert_events: alert_events.clone(),
            silences,
            ..Default::default()
        };
        self.inner.store.commit(batch).await?;
        self.remember(alert_events);
        Ok(())
    }

    /// History lines, once durable.
    fn remember(&self, events: Vec<AlertEvent>) {
        let mut h = self.inner.history.lock();
        for ev in events {
            h.push_back(ev);
            if h.len() > HISTORY {
                h.pop_front();
            }
        }
    }

    /// Hands the current alerts to the hub and the changed ones to live subscribers.
    fn publish(&self, changes: Vec<(Alert, AlertEvent)>) {
        let current = {
            let book = self.inner.book.lock();
            let mut v: Vec<Alert> = book.active.values().cloned().collect();
            v.extend(book.resolved.iter().cloned());
            v
        };
        self.inner.hub.set_alerts(current);
        if !changes.is_empty() {
            let fired: Vec<Alert> = changes
                .iter()
                .filter(|(_, ev)| ev.kind == Change::Firing.kind())
                .map(|(a, _)| a.clone())
                .collect();
            self.inner
                .live
                .publish_alerts(changes.into_iter().map(|(a, _)| a).collect(), fired);
        }
    }

    fn notify(&self, alerts: Vec<(Alert, Reason)>, now: i64) {
        // Silences as they stand now, not as they stood when the change was made.
        let alerts: Vec<(Alert, Reason)> = {
            let book = self.inner.book.lock();
            let muted = |a: &Alert| book.silences.values().any(|s| s.is_active(now) && s.matches(a));
            alerts.into_iter().filter(|(a, _)| !muted(a)).collect()
        };
        {
            let mut n = self.inner.notified.lock();
            for (a, _) in &alerts {
                if a.state == AlertState::Resolved {
                    n.remove(&a.fingerprint);
                } else {
                    n.insert(a.fingerprint.clone(), now);
                }
            }
        }
        self.inner.notifier.send(alerts);
    }

    /// Evaluates on every tick until the task is aborted (in a fleet: while leading; the
    /// other instances read the leader's book again instead).
    pub async fn run(self, interval: Duration, ingest: super::ingest::Ingest) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.leads() {
                let stats = ingest.stats();
                self.evaluate(stats.queue_depth, stats.queue_capacity).await;
            } else {
                self.reload().await;
            }
        }
    }
}

/// The book and its recent history as the store holds them.
async fn load(store: &dyn Store) -> Result<(Book, VecDeque<AlertEvent>), super::store::StoreError> {
    let snap = store
        .alert_snapshot(now_ms() - 24 * 3600 * 1000, HISTORY as u64)
        .await?;
    let mut book = Book::default();
    for a in snap.alerts {
        if a.is_active() {
            book.active.insert(a.fingerprint.clone(), a);
        } else if a.state == AlertState::Resolved {
            book.resolved.push(a);
        }
    }
    book.silences = snap.silences.into_iter().map(|s| (s.id.clone(), s)).collect();
    Ok((book, snap.history.into()))
}
