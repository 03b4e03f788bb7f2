//! The hub: the single owner of live state. Only the ingest pipeline mutates it (through
//! [`Hub::apply`]); query paths read snapshots of it.

mod metrics;
mod pricing;
mod window;

pub use metrics::{AgentMetrics, Buckets, HubMetrics, LlmMetrics, ToolMetrics, DURATION_BOUNDS, LATENCY_BOUNDS};
pub use pricing::{ModelPrice, PriceTable, Usage};
pub use window::{series_from_runs, Bucket, TIERS};

use crate::model::*;
use crate::server::alerts::rules::{Finished, Inputs};
use crate::server::store::{RollupRow, Snapshot, WriteBatch};
use hdrhistogram::Histogram;
use parking_lot::RwLock;
use std::collections::{BTreeMap, VecDeque};

/// The hub's maps and sets, keyed by the ids producers choose: foldhash's higher-quality
/// variant, seeded per process (with SipHash, hashing was over a third of `apply`).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::quality::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::quality::RandomState>;
use std::sync::atomic::{AtomicUsize, Ordering};
use window::{new_histogram, quantile, Rollups};

/// Finished executions kept in memory (older ones are read from the store).
const MAX_FINISHED_IN_MEMORY: usize = 20_000;
/// Resource samples kept per execution for the live chart.
const MAX_RESOURCE_SAMPLES: usize = 600;
/// An agent not heard from for this long, with nothing in progress, is offline.
const OFFLINE_AFTER_MS: i64 = 5 * 60_000;
/// Overview KPIs look at this many minutes.
const KPI_MINUTES: usize = 15;

struct AgentEntry {
    agent: Agent,
    durations: Histogram<u32>,
    duration_sum: f64,
    duration_count: u64,
    /// Set by an agent event; cleared by the next execution transition.
    reported_state: Option<AgentState>,
    last_failed: bool,
}

struct LlmEntry {
    stats: LlmStats,
    latency: Histogram<u32>,
    latency_sum: f64,
    ttft_sum: f64,
    ttft_count: u64,
    tps_sum: f64,
    tps_count: u64,
    /// (minute start, requests) for the last few minutes.
    recent: VecDeque<(i64, u64)>,
}

struct WorkflowEntry {
    workflow: Workflow,
    duration_sum: f64,
    duration_count: u64,
}

struct PluginEntry {
    plugin: Plugin,
    latency_sum: f64,
}

#[derive(Default)]
struct State {
    agents: HashMap<String, AgentEntry>,
    executions: HashMap<String, Execution>,
    finished: VecDeque<String>,
    workflows: HashMap<String, WorkflowEntry>,
    llm: HashMap<String, LlmEntry>,
    plugins: HashMap<String, PluginEntry>,
    hosts: BTreeMap<String, SystemSample>,
    resources: HashMap<String, VecDeque<ResourceSample>>,
    /// Failed tool calls per execution and tool, for event rules.
    tool_failures: HashMap<String, BTreeMap<String, u32>>,
    rollups: Rollups,
    /// Pending, firing and recently resolved alerts, as the alert engine last published them.
    alerts: Vec<Alert>,
    /// Executions whose agent is only a fallback (a service name), to be replaced by the
    /// first span that names the agent.
    provisional: HashSet<String>,
    /// Agents that exist only as such a fallback: removed once their last execution has
    /// moved to the agent its spans name.
    fallback_agents: HashSet<String>,
    /// Models (`provider/model`) whose calls arrive one by one (spans, `llm_call`): their
    /// aggregated usage metrics are not counted again.
    llm_from_calls: HashSet<String>,
}

/// What one [`Hub::apply`] changed: rows to persist and what went live.
#[derive(Debug, Default)]
pub struct Applied {
    pub batch: WriteBatch,
    /// Executions whose status changed, in their new state.
    pub status_changes: Vec<Execution>,
    /// Topics whose snapshot changed (`agents`, `executions`, …).
    pub topics: std::collections::HashSet<&'static str>,
}

#[derive(Default)]
struct Dirty {
    agents: HashSet<String>,
    executions: HashSet<String>,
    workflows: HashSet<String>,
    llm: HashSet<String>,
    plugins: HashSet<String>,
    /// Fallback agents left without executions (see `State::fallback_agents`).
    removed_agents: HashSet<String>,
}

pub struct Hub {
    state: RwLock<State>,
    /// How many agents `state` holds, readable without its lock (ingest checks it per request).
    agent_count: AtomicUsize,
    prices: PriceTable,
    /// The host Observatory itself runs on: `/api/system` reports it first.
    own_host: String,
}

impl Hub {
    pub fn new(prices: PriceTable, own_host: String) -> Self {
        Self {
            state: RwLock::new(State::default()),
            agent_count: AtomicUsize::new(0),
            prices,
            own_host,
        }
    }

    /// Rebuilds live state from the store at start-up.
    pub fn restore(&self, snap: Snapshot) {
        let mut s = self.state.write();
        for agent in snap.agents {
            s.agents.insert(agent.id.clone(), AgentEntry::new(agent));
        }
        for workflow in snap.workflows {
            let count = workflow.successful_executions + workflow.failed_executions;
            let sum = workflow.avg_execution_time_ms * count as f64;
            s.workflows.insert(
                workflow.id.clone(),
                WorkflowEntry {
                    workflow,
                    duration_sum: sum,
                    duration_count: count,
                },
            );
        }
        for stats in snap.llm {
            let latency_sum = stats.avg_latency_ms * stats.total_requests as f64;
            s.llm.insert(stats.id.clone(), LlmEntry::new(stats, latency_sum));
        }
        for plugin in snap.plugins {
            let latency_sum = plugin.avg_response_time_ms * plugin.call_count as f64;
            s.plugins.insert(plugin.id.clone(), PluginEntry { plugin, latency_sum });
        }
        if let Some(sys) = snap.system {
            s.hosts.insert(sys.host.clone(), sys);
        }
        for exec in snap.executions {
            if exec.status.is_terminal() {
                // The fleet's steps come back with the roll-ups (`restore_rollups`).
                if let Some(d) = exec.duration_ms {
                    if let Some(a) = s.agents.get_mut(&exec.agent_id) {
                        let _ = a.durations.record(d.max(1));
                    }
                }
                s.finished.push_back(exec.id.clone());
            }
            s.executions.insert(exec.id.clone(), exec);
        }
        s.agents.values_mut().for_each(AgentEntry::refresh_p95);
        s.evict(0);
        self.agent_count.store(s.agents.len(), Ordering::Relaxed);
    }

    /// The first agent the events would add beyond `max` agents, if any.
    pub fn agent_over_limit<'a>(&self, events: &'a [Event], max: usize) -> Option<&'a str> {
        // Far from the limit (always, but for a runaway producer), without taking the lock.
        if self.agent_count.load(Ordering::Relaxed) + events.len() <= max {
            return None;
        }
        let s = self.state.read();
        let mut new = HashSet::default();
        events
            .iter()
            .filter_map(Event::agent_id)
            .find(|id| !s.agents.contains_key(*id) && new.insert(*id) && s.agents.len() + new.len() > max)
    }

    /// Execution ids the events refer to that the hub does not hold (to be loaded from the
    /// store before [`Hub::apply`], so log numbering continues where it stopped).
    pub fn unknown_executions(&self, events: &[Event]) -> Vec<String> {
        let s = self.state.read();
        // Spans of one trace come together: skip repeats before looking up and cloning.
        let mut seen: HashSet<&str> = HashSet::default();
        let mut last: Option<&str> = None;
        let mut ids: Vec<String> = Vec::new();
        for e in events {
            let id = match e {
                Event::Execution(e) => &e.id,
                Event::Status(e) => &e.execution_id,
                Event::Log(e) => &e.execution_id,
                Event::Span(e) => &e.span.execution_id,
                _ => continue,
            };
            if last == Some(id.as_str()) {
                continue;
            }
            last = Some(id);
            if seen.insert(id) && !s.executions.contains_key(id.as_str()) {
                ids.push(id.clone());
            }
        }
        ids.sort();
        ids
    }

    /// Adopts executions loaded from the store (see [`Hub::unknown_executions`]).
    pub fn adopt(&self, executions: Vec<Execution>) {
        let mut s = self.state.write();
        for e in executions {
            if e.status.is_terminal() {
                s.finished.push_back(e.id.clone());
            }
            s.executions.entry(e.id.clone()).or_insert(e);
        }
    }

    /// Applies validated events in order. Returns the rows to persist and what changed.
    pub fn apply(&self, events: Vec<Event>, now: i64) -> Applied {
        let mut s = self.state.write();
        let finished_before = s.finished.len();
        let mut out = Applied::default();
        let mut dirty = Dirty::default();
        for event in events {
            out.topics.insert("overview");
            s.apply_one(event, now, &self.prices, &mut out, &mut dirty);
        }
        for (topic, changed) in [
            ("agents", !dirty.agents.is_empty()),
            ("executions", !dirty.executions.is_empty()),
            ("workflows", !dirty.workflows.is_empty()),
            ("llm", !dirty.llm.is_empty()),
            ("plugins", !dirty.plugins.is_empty()),
        ] {
            if changed {
                out.topics.insert(topic);
            }
        }
        // Entities travel whole, once per batch, in their final state.
        out.batch.removed_agents = dirty
            .removed_agents
            .into_iter()
            .filter(|id| !s.agents.contains_key(id))
            .collect();
        if !out.batch.removed_agents.is_empty() {
            out.topics.insert("agents");
        }
        // Percentiles once per changed entity and apply, not per event.
        for id in &dirty.agents {
            if let Some(a) = s.agents.get_mut(id) {
                a.refresh_p95();
                out.batch.agents.push(a.agent.clone());
            }
        }
        for id in &dirty.executions {
            if let Some(e) = s.executions.get(id) {
                out.batch.executions.push(e.clone());
            }
        }
        for id in &dirty.workflows {
            if let Some(w) = s.workflows.get(id) {
                out.batch.workflows.push(w.workflow.clone());
            }
        }
        for id in &dirty.llm {
            if let Some(l) = s.llm.get_mut(id) {
                if let Some(p95) = quantile(&l.latency, 0.95) {
                    l.stats.p95_latency_ms = p95;
                }
                out.batch.llm.push(l.stats.clone());
            }
        }
        for id in &dirty.plugins {
            if let Some(p) = s.plugins.get(id) {
                out.batch.plugins.push(p.plugin.clone());
            }
        }
        // The roll-up steps these events touched, durable with the events themselves.
        out.batch.rollups = s.rollups.take_dirty();
        // What this apply finished stays in memory until the next one: the ingest pipeline
        // applies a group while the previous one commits, and the next group reloads what
        // memory lacks from the store, so only executions of earlier groups may leave.
        let protected = s.finished.len().saturating_sub(finished_before);
        s.evict(protected);
        self.agent_count.store(s.agents.len(), Ordering::Relaxed);
        out
    }

    // ---- queries -------------------------------------------------------------------------

    pub fn agents(&self, now: i64) -> Vec<Agent> {
        let s = self.state.read();
        let mut agents: Vec<Agent> = s.agents.values().map(|a| a.view(now)).collect();
        agents.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        agents
    }

    pub fn agent(&self, id: &str, now: i64) -> Option<Agent> {
        self.state.read().agents.get(id).map(|a| a.view(now))
    }

    pub fn execution(&self, id: &str) -> Option<Execution> {
        self.state.read().executions.get(id).cloned()
    }

    /// Publishes the alert engine's current alerts (for the overview and the live topic).
    pub fn set_alerts(&self, alerts: Vec<Alert>) {
        self.state.write().alerts = alerts;
    }

    pub fn alerts(&self) -> Vec<Alert> {
        self.state.read().alerts.clone()
    }

    /// What alert rules look at, gathered in one pass.
    pub fn alert_inputs(&self, now: i64, ingest_depth: u64, ingest_capacity: u64) -> Inputs {
        let s = self.state.read();
        let hour_ago = now - 3_600_000;
        let mut finished = Vec::new();
        let mut running = Vec::new();
        for e in s.executions.values() {
            match (e.status, e.ended_at, e.duration_ms) {
                (st, Some(end), Some(d)) if st.is_terminal() && end >= hour_ago => finished.push(Finished {
                    id: e.id.clone(),
                    agent_id: e.agent_id.clone(),
                    status: st,
                    duration_ms: d,
                    ended_at: end,
                }),
                (ExecutionStatus::Running, _, _) => {
                    running.push((e.id.clone(), e.agent_id.clone(), e.started_at.unwrap_or(e.created_at)))
                }
                _ => {}
            }
        }
        finished.sort_by_key(|f| f.ended_at);
        let agents = s
            .agents
            .values()
            .map(|a| {
                let p99 = quantile(&a.durations, 0.99);
                (a.agent.id.clone(), a.agent.last_seen, a.agent.tasks_in_progress, p99)
            })
            .collect();
        let llm = s
            .llm
            .values()
            .map(|l| {
                (
                    l.stats.id.clone(),
                    l.stats.total_requests,
                    l.stats.failed_requests,
                    l.stats.p95_latency_ms,
                )
            })
            .collect();
        let series = s.rollups.minutes().series(now, KPI_MINUTES);
        let cost: f64 = series.iter().map(|p| p.cost_usd).sum();
        let tool_failures = s
            .tool_failures
            .iter()
            .flat_map(|(exec, tools)| {
                let agent = s.executions.get(exec).map(|e| e.agent_id.clone()).unwrap_or_default();
                tools
                    .iter()
                    .map(move |(t, n)| (exec.clone(), agent.clone(), t.clone(), *n))
            })
            .collect();
        Inputs {
            now,
            finished,
            running,
            agents,
            llm,
            cost_per_hour: cost * 60.0 / KPI_MINUTES as f64,
            hosts: s
                .hosts
                .values()
                .map(|h| (h.host.clone(), h.memory_used_bytes, h.memory_total_bytes))
                .collect(),
            ingest_depth,
            ingest_capacity,
            tool_failures,
        }
    }

    /// The `limit` most recently created executions, newest first.
    pub fn recent_executions(&self, limit: usize) -> Vec<Execution> {
        let s = self.state.read();
        let mut v: Vec<&Execution> = s.executions.values().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.created_at));
        v.into_iter().take(limit).cloned().collect()
    }

    pub fn resources(&self, execution_id: &str) -> Vec<ResourceSample> {
        self.state
            .read()
            .resources
            .get(execution_id)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn workflows(&self) -> Vec<Workflow> {
        let s = self.state.read();
        let mut v: Vec<Workflow> = s.workflows.values().map(|w| w.workflow.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn llm(&self, now: i64) -> Vec<LlmStats> {
        let s = self.state.read();
        let mut v: Vec<LlmStats> = s.llm.values().map(|l| l.view(now)).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    pub fn plugins(&self) -> Vec<Plugin> {
        let s = self.state.read();
        let mut v: Vec<Plugin> = s.plugins.values().map(|p| p.plugin.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The latest sample of every host, Observatory's own first.
    pub fn system(&self) -> Vec<SystemSample> {
        let s = self.state.read();
        let mut v: Vec<SystemSample> = s.hosts.values().cloned().collect();
        v.sort_by_key(|h| h.host != self.own_host);
        v
    }

    /// Roll-up steps read back from the store at start-up.
    pub fn restore_rollups(&self, rows: Vec<RollupRow>, now: i64) {
        self.state.write().rollups.restore(rows, now);
    }

    /// Steps of `range` older than this come from the store; newer ones from memory.
    pub fn rollup_memory_start(&self, range: TimeRange, now: i64) -> i64 {
        self.state.read().rollups.memory_start(range, now)
    }

    /// The fleet's series over `range`: `stored` steps joined with the ones in memory.
    pub fn series(&self, range: TimeRange, stored: Vec<RollupRow>, now: i64) -> Series {
        self.state.read().rollups.series(range, stored, now)
    }

    pub fn overview(&self, now: i64) -> Overview {
        let s = self.state.read();
        let agents_active = s
            .agents
            .values()
            .filter(|a| {
                let v = a.state(now);
                v != AgentState::Offline
            })
            .count() as u64;
        let (mut running, mut pending) = (0, 0);
        for e in s.executions.values() {
            match e.status {
                ExecutionStatus::Running => running += 1,
                ExecutionStatus::Pending => pending += 1,
                _ => {}
            }
        }
        let recent = s.rollups.minutes().series(now, KPI_MINUTES);
        let completed: u64 = recent.iter().map(|p| p.completed).sum();
        let failed: u64 = recent.iter().map(|p| p.failed).sum();
        let cancelled: u64 = recent.iter().map(|p| p.cancelled).sum();
        let finished = completed + failed + cancelled;
        let tokens: u64 = recent.iter().map(|p| p.tokens).sum();
        let cost: f64 = recent.iter().map(|p| p.cost_usd).sum();
        let durations = s.rollups.minutes().durations(now, KPI_MINUTES);
        let q = |p| quantile(&durations, p);
        let pct = |n: u64| (finished > 0).then(|| n as f64 * 100.0 / finished as f64);
        Overview {
            generated_at: now,
            agents_total: s.agents.len() as u64,
            agents_active,
            executions_running: running,
            executions_pending: pending,
            executions_finished: finished,
            window_minutes: KPI_MINUTES as u64,
            success_rate: pct(completed),
            error_rate: pct(failed),
            duration_p50_ms: q(0.5),
            duration_p95_ms: q(0.95),
            duration_p99_ms: q(0.99),
            executions_per_minute: finished as f64 / KPI_MINUTES as f64,
            tokens_per_minute: tokens as f64 / KPI_MINUTES as f64,
            cost_per_hour_usd: cost * 60.0 / KPI_MINUTES as f64,
            firing_alerts: s.alerts.iter().filter(|a| a.state == AlertState::Firing).count() as u64,
        }
    }
}

impl AgentEntry {
    /// Brings the listed p95 up to date with the durations (once per apply: listing 10,000
    /// agents computes no percentiles).
    fn refresh_p95(&mut self) {
        if let Some(p95) = quantile(&self.durations, 0.95) {
            self.agent.p95_task_duration_ms = p95;
        }
    }

    fn new(agent: Agent) -> Self {
        let count = agent.tasks_completed + agent.tasks_failed;
        Self {
            duration_sum: agent.avg_task_duration_ms * count as f64,
            duration_count: count,
            agent,
            durations: new_histogram(),
            reported_state: None,
            last_failed: false,
        }
    }

    fn blank(id: &str, ts: i64) -> Self {
        Self::new(Agent {
            id: id.to_string(),
            name: id.to_string(),
            last_seen: ts,
            ..Default::default()
        })
    }

    fn state(&self, now: i64) -> AgentState {
        let a = &self.agent;
        if a.tasks_in_progress > 0 {
            return AgentState::Running;
        }
        if let Some(s) = self.reported_state {
            return s;
        }
        if now - a.last_seen > OFFLINE_AFTER_MS {
            AgentState::Offline
        } else if self.last_failed {
            AgentState::Error
        } else {
            AgentState::Idle
        }
    }

    fn view(&self, now: i64) -> Agent {
        let mut a = self.agent.clone();
        a.state = self.state(now);
        a
    }
}

impl LlmEntry {
    fn new(stats: LlmStats, latency_sum: f64) -> Self {
        Self {
            stats,
            latency: new_histogram(),
            latency_sum,
            ttft_sum: 0.0,
            ttft_count: 0,
            tps_sum: 0.0,
            tps_count: 0,
            recent: VecDeque::new(),
        }
    }

    fn view(&self, now: i64) -> LlmStats {
        let mut s = self.stats.clone();
        let start = (now / 60_000 - 4) * 60_000;
        let recent: u64 = self.recent.iter().filter(|(t, _)| *t >= start).map(|(_, n)| n).sum();
        s.requests_per_minute = recent as f64 / 5.0;
        s
    }
}

impl State {
    fn agent_mut(&mut self, id: &str, ts: i64, dirty: &mut Dirty) -> &mut AgentEntry {
        mark(&mut dirty.agents, id);
        if !self.agents.contains_key(id) {
            self.agents.insert(id.to_string(), AgentEntry::blank(id, ts));
        }
        let entry = self.agents.get_mut(id).expect("inserted above");
        entry.agent.last_seen = entry.agent.last_seen.max(ts);
        entry
    }

    /// The execution, created (PENDING, for agent `agent_id`) when new.
    fn execution_mut(
        &mut self,
        id: &str,
        agent_id: Option<&str>,
        ts: i64,
        now: i64,
        dirty: &mut Dirty,
        out: &mut Applied,
    ) -> &mut Execution {
        if !self.executions.contains_key(id) {
            let agent_id = agent_id.unwrap_or("unknown").to_string();
            let agent = self.agent_mut(&agent_id, ts, dirty);
            agent.agent.tasks_in_progress += 1;
            self.rollups.record(ts, now, |b| b.started += 1);
            let exec = Execution {
                id: id.to_string(),
                agent_id,
                created_at: ts,
                updated_at: ts,
                ..Default::default()
            };
            self.executions.insert(id.to_string(), exec);
            out.topics.insert("executions");
        }
        mark(&mut dirty.executions, id);
        let exec = self.executions.get_mut(id).expect("inserted above");
        exec.updated_at = exec.updated_at.max(ts);
        exec
    }

    fn apply_one(&mut self, event: Event, now: i64, prices: &PriceTable, out: &mut Applied, dirty: &mut Dirty) {
        match event {
            Event::Agent(e) => {
                let ts = e.timestamp.unwrap_or(now);
                self.fallback_agents.remove(&e.id);
                let entry = self.agent_mut(&e.id, ts, dirty);
                let a = &mut entry.agent;
                if let Some(v) = e.name {
                    a.name = v;
                }
                if let Some(v) = e.kind {
                    a.kind = v;
                }
                if let Some(v) = e.version {
                    a.version = v;
                }
                if !e.labels.is_empty() {
                    a.labels = e.labels;
                }
                set(&mut a.tasks_completed, e.tasks_completed);
                set(&mut a.tasks_failed, e.tasks_failed);
                set(&mut a.tasks_in_progress, e.tasks_in_progress);
                set(&mut a.messages_sent, e.messages_sent);
                set(&mut a.messages_received, e.messages_received);
                if let Some(avg) = e.avg_task_duration_ms {
                    a.avg_task_duration_ms = avg;
                    entry.duration_count = a.tasks_completed + a.tasks_failed;
                    entry.duration_sum = avg * entry.duration_count as f64;
                }
                if e.state.is_some() {
                    entry.reported_state = e.state;
                }
                out.topics.insert("agents");
            }
            Event::Execution(e) => {
                let ts = e.timestamp.unwrap_or(now);
                self.fallback_agents.remove(&e.agent_id);
                let exec = self.execution_mut(&e.id, Some(&e.agent_id), ts, now, dirty, out);
                let is_new_workflow_link = exec.workflow_id.is_none() && e.workflow_id.is_some();
                if exec.agent_id == "unknown" && e.agent_id != "unknown" {
                    exec.agent_id = e.agent_id.clone();
                }
                if e.workflow_id.is_some() {
                    exec.workflow_id = e.workflow_id.clone();
                }
                fill(&mut exec.input, e.input);
                fill(&mut exec.output, e.output);
                fill(&mut exec.error, e.error.clone());
                fill(&mut exec.trace_id, e.trace_id);
                if let Some(s) = e.started_at {
                    exec.started_at = Some(s);
                }
                let terminal = exec.status.is_terminal();
                if is_new_workflow_link && !terminal {
                    if let Some(wf) = e.workflow_id.as_deref() {
                        let w = self.workflow_mut(wf, ts, dirty);
                        w.workflow.running_instances += 1;
                        w.workflow.total_executions += 1;
                        w.workflow.last_run = Some(ts);
                    }
                }
                let status = e.status.or(e.started_at.map(|_| ExecutionStatus::Running));
                if let Some(to) = status {
                    let at = if to.is_terminal() {
                        e.ended_at.unwrap_or(ts)
                    } else {
                        e.started_at.unwrap_or(ts)
                    };
                    self.transition(&e.id, to, at, e.error, None, now, out, dirty);
                }
                out.topics.insert("executions");
            }
            Event::Status(e) => {
                let ts = e.timestamp.unwrap_or(now);
                self.execution_mut(&e.execution_id, None, ts, now, dirty, out);
                self.transition(&e.execution_id, e.status, ts, e.error, e.output, now, out, dirty);
                out.topics.insert("executions");
            }
            Event::Log(e) => {
                let ts = e.timestamp.unwrap_or(now);
                if e.agent_id.is_some() && !self.executions.contains_key(&e.execution_id) {
                    self.provisional.insert(e.execution_id.clone());
                }
                let exec = self.execution_mut(&e.execution_id, e.agent_id.as_deref(), ts, now, dirty, out);
                exec.log_count += 1;
                let trace_id = e.trace_id.or_else(|| exec.trace_id.clone());
                out.batch.logs.push(LogRecord {
                    execution_id: e.execution_id,
                    seq: exec.log_count,
                    timestamp: ts,
                    level: e.level,
                    message: e.message,
                    attributes: e.attributes,
                    trace_id,
                    span_id: e.span_id,
                });
            }
            Event::Resource(e) => {
                let ts = e.timestamp.unwrap_or(now);
                let sample = ResourceSample {
                    timestamp: ts,
                    execution_id: e.execution_id.clone(),
                    agent_id: e.agent_id.clone(),
                    cpu_percent: e.cpu_percent,
                    memory_bytes: e.memory_bytes,
                };
                if let Some(id) = &e.execution_id {
                    if self.executions.contains_key(id) {
                        let q = self.resources.entry(id.clone()).or_default();
                        q.push_back(sample.clone());
                        if q.len() > MAX_RESOURCE_SAMPLES {
                            q.pop_front();
                        }
                    }
                }
                if let Some(agent) = &e.agent_id {
                    self.agent_mut(agent, ts, dirty);
                }
                out.batch.resources.push(sample);
            }
            Event::Span(e) => self.apply_span(*e, now, prices, out, dirty),
            Event::LlmUsage(e) => self.apply_llm_usage(e, now, prices, out, dirty),
            Event::LlmCall(e) => {
                let ts = e.timestamp.unwrap_or(now);
                let cost = e
                    .cost_usd
                    .unwrap_or_else(|| prices.cost(&e.provider, &e.model, Usage::from(&e)));
                let failed = e.error.is_some();
                let id = format!("{}/{}", e.provider, e.model);
                if !self.llm_from_calls.contains(&id) {
                    self.llm_from_calls.insert(id.clone());
                }
                self.llm_mut(id, &e.provider, &e.model, dirty).record(&e, cost, ts);
                let tokens = e.tokens_in + e.tokens_out;
                let agent_id = e.agent_id.clone().or_else(|| {
                    e.execution_id
                        .as_ref()
                        .and_then(|x| self.executions.get(x))
                        .map(|x| x.agent_id.clone())
                });
                if let Some(x) = e.execution_id.as_ref().and_then(|x| self.executions.get_mut(x)) {
                    x.tokens_in += e.tokens_in;
                    x.tokens_out += e.tokens_out;
                    x.cost_usd += cost;
                    x.llm_calls += 1;
                    x.updated_at = x.updated_at.max(ts);
                    mark(&mut dirty.executions, &x.id);
                }
                if let Some(agent) = agent_id {
                    let a = &mut self.agent_mut(&agent, ts, dirty).agent;
                    a.tokens_in += e.tokens_in;
                    a.tokens_out += e.tokens_out;
                    a.cost_usd += cost;
                }
                self.rollups.record(ts, now, |b| {
                    b.record_llm(&e.provider, tokens, cost, e.latency_ms, e.ttft_ms, failed)
                });
                out.batch.llm_calls.push(LlmCall {
                    timestamp: ts,
                    execution_id: e.execution_id,
                    agent_id: e.agent_id,
                    provider: e.provider,
                    model: e.model,
                    tokens_in: e.tokens_in,
                    tokens_out: e.tokens_out,
                    cache_read_tokens: e.cache_read_tokens,
                    cache_creation_tokens: e.cache_creation_tokens,
                    reasoning_tokens: e.reasoning_tokens,
                    latency_ms: e.latency_ms,
                    ttft_ms: e.ttft_ms,
                    error: e.error,
                    cost_usd: cost,
                });
                out.topics.insert("llm");
            }
            Event::ToolCall(e) => {
                let ts = e.timestamp.unwrap_or(now);
                mark(&mut dirty.plugins, &e.name);
                if !self.plugins.contains_key(&e.name) {
                    let plugin = Plugin {
                        id: e.name.clone(),
                        name: e.name.clone(),
                        state: "running".into(),
                        ..Default::default()
                    };
                    self.plugins.insert(
                        e.name.clone(),
                        PluginEntry {
                            plugin,
                            latency_sum: 0.0,
                        },
                    );
                }
                let entry = self.plugins.get_mut(&e.name).expect("inserted above");
                let p = &mut entry.plugin;
                if let Some(v) = &e.version {
                    p.version = v.clone();
                }
                p.call_count += 1;
                p.error_count += e.error.is_some() as u64;
                entry.latency_sum += e.latency_ms;
                p.avg_response_time_ms = entry.latency_sum / p.call_count as f64;
                p.last_call = Some(ts);
                if let Some(x) = e.execution_id.as_ref().and_then(|x| self.executions.get_mut(x)) {
                    x.tool_calls += 1;
                    x.updated_at = x.updated_at.max(ts);
                    mark(&mut dirty.executions, &x.id);
                }
                out.batch.tool_calls.push(ToolCall {
                    timestamp: ts,
                    execution_id: e.execution_id,
                    agent_id: e.agent_id,
                    name: e.name,
                    latency_ms: e.latency_ms,
                    error: e.error,
                });
                out.topics.insert("plugins");
            }
            Event::Workflow(e) => {
                let ts = e.timestamp.unwrap_or(now);
                let entry = self.workflow_mut(&e.id, ts, dirty);
                let w = &mut entry.workflow;
                if let Some(v) = e.name {
                    w.name = v;
                }
                if let Some(v) = e.status {
                    w.status = v;
                }
                set(&mut w.node_count, e.node_count);
                set(&mut w.total_executions, e.total_executions);
                set(&mut w.successful_executions, e.successful_executions);
                set(&mut w.failed_executions, e.failed_executions);
                set(&mut w.running_instances, e.running_instances);
                if let Some(avg) = e.avg_execution_time_ms {
                    w.avg_execution_time_ms = avg;
                    entry.duration_count = w.successful_executions + w.failed_executions;
                    entry.duration_sum = avg * entry.duration_count as f64;
                }
                out.topics.insert("workflows");
            }
            Event::Plugin(e) => {
                let ts = e.timestamp.unwrap_or(now);
                dirty.plugins.insert(e.id.clone());
                let entry = self.plugins.entry(e.id.clone()).or_insert_with(|| PluginEntry {
                    plugin: Plugin {
                        id: e.id.clone(),
                        name: e.id.clone(),
                        state: "running".into(),
                        ..Default::default()
                    },
                    latency_sum: 0.0,
                });
                let p = &mut entry.plugin;
                if let Some(v) = e.name {
                    p.name = v;
                }
                if let Some(v) = e.version {
                    p.version = v;
                }
                if let Some(v) = e.state {
                    p.state = v;
                }
                set(&mut p.call_count, e.call_count);
                set(&mut p.error_count, e.error_count);
                if let Some(avg) = e.avg_response_time_ms {
                    p.avg_response_time_ms = avg;
                    entry.latency_sum = avg * p.call_count as f64;
                }
                if e.reloaded {
                    p.reload_count += 1;
                    p.last_reload = Some(ts);
                }
                out.topics.insert("plugins");
            }
            Event::System(e) => {
                let sample = SystemSample {
                    timestamp: e.timestamp.unwrap_or(now),
                    host: e.host,
                    cpu_percent: e.cpu_percent,
                    memory_used_bytes: e.memory_used_bytes,
                    memory_total_bytes: e.memory_total_bytes,
                    disk_used_bytes: e.disk_used_bytes,
                    disk_total_bytes: e.disk_total_bytes,
                    network_rx_bytes: e.network_rx_bytes,
                    network_tx_bytes: e.network_tx_bytes,
                    uptime_seconds: e.uptime_seconds,
                    tasks: e.tasks,
                };
                self.hosts.insert(sample.host.clone(), sample.clone());
                out.batch.system.push(sample);
                out.topics.insert("system");
            }
        }
    }

    /// A span: its execution is created (RUNNING) or moved on; the root span completes it;
    /// LLM and tool spans count as calls.
    fn apply_span(&mut self, e: SpanEvent, now: i64, prices: &PriceTable, out: &mut Applied, dirty: &mut Dirty) {
        let SpanEvent {
            mut span,
            agent_id,
            agent_provisional,
        } = e;
        let start = (span.start_unix_nano / 1_000_000) as i64;
        let end = (span.end_unix_nano / 1_000_000) as i64;
        let id = span.execution_id.clone();
        if self.executions.contains_key(&id) {
            if !agent_provisional && self.provisional.remove(&id) {
                self.move_agent(&id, &agent_id, end, dirty);
            }
        } else if agent_provisional {
            self.provisional.insert(id.clone());
            if !self.agents.contains_key(&agent_id) {
                self.fallback_agents.insert(agent_id.clone());
            }
        }
        if !agent_provisional {
            self.fallback_agents.remove(&agent_id);
        }
        let exec = self.execution_mut(&id, Some(&agent_id), start, now, dirty, out);
        exec.updated_at = exec.updated_at.max(end);
        if exec.trace_id.is_none() {
            exec.trace_id = Some(span.trace_id.clone());
        }
        let terminal = exec.status.is_terminal();
        if !terminal {
            // The execution starts with its earliest span; the root's start is the earliest.
            if exec.started_at.is_none_or(|s| start < s) {
                exec.started_at = Some(start);
            }
            if exec.created_at > start {
                exec.created_at = start;
            }
        }

        if span.category == SpanCategory::Workflow && !terminal {
            let wf = span
                .attribute("gen_ai.workflow.name")
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| span.name.split_once(' ').map(|(_, rest)| rest.to_string()))
                .unwrap_or_else(|| span.name.clone());
            if exec.workflow_id.is_none() {
                exec.workflow_id = Some(wf.clone());
                let w = self.workflow_mut(&wf, start, dirty);
                w.workflow.running_instances += 1;
                w.workflow.total_executions += 1;
                w.workflow.last_run = Some(start);
                out.topics.insert("workflows");
            }
        }

        let error = span
            .failed()
            .then(|| span.status_message.clone().unwrap_or_else(|| "error".into()));
        match span.category {
            SpanCategory::Llm => {
                let provider = span.provider.clone().unwrap_or_else(|| "unknown".into());
                if let Some(model) = span.model.clone() {
                    let mut call = LlmCallEvent {
                        execution_id: Some(id.clone()),
                        agent_id: None,
                        provider,
                        model,
                        tokens_in: span.tokens_in.unwrap_or(0),
                        tokens_out: span.tokens_out.unwrap_or(0),
                        cache_read_tokens: span.cache_read_tokens.unwrap_or(0),
                        cache_creation_tokens: span.cache_creation_tokens.unwrap_or(0),
                        reasoning_tokens: span.reasoning_tokens.unwrap_or(0),
                        latency_ms: span.duration_ms,
                        ttft_ms: span.ttft_ms,
                        error: error.clone(),
                        cost_usd: None,
                        timestamp: Some(end),
                    };
                    let cost = span
                        .cost_usd
                        .unwrap_or_else(|| prices.cost(&call.provider, &call.model, Usage::from(&call)));
                    span.cost_usd = Some(cost);
                    call.cost_usd = Some(cost);
                    self.apply_one(Event::LlmCall(call), now, prices, out, dirty);
                    // The stored span holds the call; no `llm_calls` row besides it.
                    out.batch.llm_calls.pop();
                }
            }
            SpanCategory::Tool => {
                if let Some(name) = span.tool_name.clone() {
                    let call = ToolCallEvent {
                        execution_id: Some(id.clone()),
                        agent_id: None,
                        name,
                        version: None,
                        latency_ms: span.duration_ms,
                        error: error.clone(),
                        timestamp: Some(end),
                    };
                    self.apply_one(Event::ToolCall(call), now, prices, out, dirty);
                    // The stored span holds the call; no `tool_calls` row besides it.
                    out.batch.tool_calls.pop();
                }
            }
            _ => {}
        }

        if span.is_root() {
            if let Some(exec) = self.executions.get_mut(&id) {
                if !exec.status.is_terminal() {
                    exec.started_at = Some(start);
                }
            }
            let to = if span.failed() {
                ExecutionStatus::Failed
            } else {
                ExecutionStatus::Completed
            };
            self.transition(&id, to, end, error, None, now, out, dirty);
        } else {
            self.transition(&id, ExecutionStatus::Running, start, None, None, now, out, dirty);
        }
        out.topics.insert("executions");
        out.batch.spans.push(span);
    }

    /// Moves an unfinished execution from its provisional agent to `to`.
    fn move_agent(&mut self, id: &str, to: &str, ts: i64, dirty: &mut Dirty) {
        let Some(exec) = self.executions.get(id) else {
            return;
        };
        if exec.agent_id == to || exec.status.is_terminal() {
            return;
        }
        let from = exec.agent_id.clone();
        let (tokens_in, tokens_out, cost) = (exec.tokens_in, exec.tokens_out, exec.cost_usd);
        if let Some(a) = self.agents.get_mut(&from) {
            let a = &mut a.agent;
            a.tasks_in_progress = a.tasks_in_progress.saturating_sub(1);
            a.tokens_in = a.tokens_in.saturating_sub(tokens_in);
            a.tokens_out = a.tokens_out.saturating_sub(tokens_out);
            a.cost_usd = (a.cost_usd - cost).max(0.0);
            let empty = a.tasks_in_progress + a.tasks_completed + a.tasks_failed + a.tasks_cancelled == 0;
            if empty && self.fallback_agents.remove(&from) {
                self.agents.remove(&from);
                dirty.agents.remove(&from);
                dirty.removed_agents.insert(from);
            } else {
                dirty.agents.insert(from);
            }
        }
        let a = &mut self.agent_mut(to, ts, dirty).agent;
        a.tasks_in_progress += 1;
        a.tokens_in += tokens_in;
        a.tokens_out += tokens_out;
        a.cost_usd += cost;
        if let Some(exec) = self.executions.get_mut(id) {
            exec.agent_id = to.to_string();
            dirty.executions.insert(id.to_string());
        }
    }

    /// The stats of one provider/model (`id` is `provider/model`), created when new.
    fn llm_mut(&mut self, id: String, provider: &str, model: &str, dirty: &mut Dirty) -> &mut LlmEntry {
        mark(&mut dirty.llm, &id);
        if !self.llm.contains_key(&id) {
            let stats = LlmStats {
                id: id.clone(),
                provider: provider.to_string(),
                model: model.to_string(),
                ..Default::default()
            };
            self.llm.insert(id.clone(), LlmEntry::new(stats, 0.0));
        }
        self.llm.get_mut(&id).expect("inserted above")
    }

    /// Aggregated usage from metrics, for models whose calls are not reported one by one.
    fn apply_llm_usage(
        &mut self,
        e: LlmUsageEvent,
        now: i64,
        prices: &PriceTable,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let id = format!("{}/{}", e.provider, e.model);
        if self.llm_from_calls.contains(&id) {
            return;
        }
        let ts = e.timestamp.unwrap_or(now);
        let cost = prices.cost(&e.provider, &e.model, Usage::new(e.tokens_in, e.tokens_out));
        self.llm_mut(id, &e.provider, &e.model, dirty)
            .record_usage(&e, cost, ts);
        self.rollups.record(ts, now, |b| {
            let tokens = e.tokens_in + e.tokens_out;
            b.tokens += tokens;
            b.cost_usd += cost;
            b.llm_calls += e.requests;
            b.llm_errors += e.failed_requests;
            *b.tokens_by_provider.entry(e.provider.clone()).or_default() += tokens;
        });
        out.topics.insert("llm");
    }

    fn workflow_mut(&mut self, id: &str, ts: i64, dirty: &mut Dirty) -> &mut WorkflowEntry {
        dirty.workflows.insert(id.to_string());
        let entry = self.workflows.entry(id.to_string()).or_insert_with(|| WorkflowEntry {
            workflow: Workflow {
                id: id.to_string(),
                name: id.to_string(),
                status: "active".into(),
                ..Default::default()
            },
            duration_sum: 0.0,
            duration_count: 0,
        });
        entry.workflow.last_run = Some(entry.workflow.last_run.unwrap_or(ts).max(ts));
        entry
    }

    /// Moves an execution forward in its lifecycle; never backwards, never out of a final state.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        id: &str,
        to: ExecutionStatus,
        at: i64,
        error: Option<String>,
        output: Option<String>,
        now: i64,
        out: &mut Applied,
        dirty: &mut Dirty,
    ) {
        let Some(exec) = self.executions.get_mut(id) else {
            return;
        };
        if exec.status.is_terminal() || to.rank() < exec.status.rank() || to == exec.status {
            return;
        }
        exec.status = to;
        exec.updated_at = exec.updated_at.max(at);
        if to == ExecutionStatus::Running {
            exec.started_at.get_or_insert(at);
        }
        if !to.is_terminal() {
            out.status_changes.push(exec.clone());
            return;
        }
        fill(&mut exec.error, error);
        fill(&mut exec.output, output);
        let ended = exec.ended_at.unwrap_or(at);
        exec.ended_at = Some(ended);
        let started = *exec.started_at.get_or_insert(exec.created_at.min(ended));
        let duration = (ended - started).max(0) as u64;
        exec.duration_ms = Some(duration);
        let exec = exec.clone();
        self.finished.push_back(exec.id.clone());

        let entry = self
            .agents
            .entry(exec.agent_id.clone())
            .or_insert_with(|| AgentEntry::blank(&exec.agent_id, at));
        dirty.agents.insert(exec.agent_id.clone());
        let a = &mut entry.agent;
        a.tasks_in_progress = a.tasks_in_progress.saturating_sub(1);
        a.last_seen = a.last_seen.max(at);
        match to {
            ExecutionStatus::Completed => a.tasks_completed += 1,
            ExecutionStatus::Failed => a.tasks_failed += 1,
            _ => a.tasks_cancelled += 1,
        }
        entry.last_failed = to == ExecutionStatus::Failed;
        entry.reported_state = None;
        if to != ExecutionStatus::Cancelled {
            entry.duration_sum += duration as f64;
            entry.duration_count += 1;
            a.avg_task_duration_ms = entry.duration_sum / entry.duration_count as f64;
            // Its p95 follows at the end of the apply (`AgentEntry::refresh_p95`).
            let _ = entry.durations.record(duration.max(1));
        }
        self.rollups.record_finish(to, ended, duration, now);

        if let Some(wf) = exec.workflow_id.as_deref() {
            let w = self.workflow_mut(wf, at, dirty);
            w.workflow.running_instances = w.workflow.running_instances.saturating_sub(1);
            match to {
                ExecutionStatus::Completed => w.workflow.successful_executions += 1,
                ExecutionStatus::Failed => w.workflow.failed_executions += 1,
                _ => {}
            }
            w.duration_sum += duration as f64;
            w.duration_count += 1;
            w.workflow.avg_execution_time_ms = w.duration_sum / w.duration_count as f64;
        }
        out.topics.insert("agents");
        out.status_changes.push(exec);
    }

    /// Drops the oldest finished executions past the limit, never the newest `protected`.
    fn evict(&mut self, protected: usize) {
        while self.finished.len() > MAX_FINISHED_IN_MEMORY.max(protected) {
            if let Some(id) = self.finished.pop_front() {
                if self.executions.get(&id).is_some_and(|e| e.status.is_terminal()) {
                    self.executions.remove(&id);
                    self.resources.remove(&id);
                    self.provisional.remove(&id);
                    self.tool_failures.remove(&id);
                }
            }
        }
    }
}

impl LlmEntry {
    fn record_usage(&mut self, e: &LlmUsageEvent, cost: f64, ts: i64) {
        let s = &mut self.stats;
        let failed = e.failed_requests.min(e.requests);
        s.total_requests += e.requests;
        s.failed_requests += failed;
        s.successful_requests += e.requests - failed;
        s.prompt_tokens += e.tokens_in;
        s.completion_tokens += e.tokens_out;
        s.total_tokens += e.tokens_in + e.tokens_out;
        s.cost_usd += cost;
        s.last_request = s.last_request.max(ts);
        self.latency_sum += e.latency_ms_sum;
        if s.total_requests > 0 {
            s.avg_latency_ms = self.latency_sum / s.total_requests as f64;
            s.error_rate = s.failed_requests as f64 * 100.0 / s.total_requests as f64;
        }
        if e.requests > 0 {
            let _ = self
                .latency
                .record((e.latency_ms_sum / e.requests as f64).round().max(1.0) as u64);
        }
        let minute = ts / 60_000 * 60_000;
        match self.recent.back_mut() {
            Some((t, n)) if *t == minute => *n += e.requests,
            _ => self.recent.push_back((minute, e.requests)),
        }
        while self.recent.len() > 5 {
            self.recent.pop_front();
        }
    }

    fn record(&mut self, e: &LlmCallEvent, cost: f64, ts: i64) {
        let s = &mut self.stats;
        s.total_requests += 1;
        if e.error.is_some() {
            s.failed_requests += 1;
        } else {
            s.successful_requests += 1;
        }
        s.prompt_tokens += e.tokens_in;
        s.completion_tokens += e.tokens_out;
        s.total_tokens += e.tokens_in + e.tokens_out;
        s.cache_read_tokens += e.cache_read_tokens;
        s.cache_creation_tokens += e.cache_creation_tokens;
        s.reasoning_tokens += e.reasoning_tokens;
        s.cost_usd += cost;
        s.last_request = s.last_request.max(ts);
        self.latency_sum += e.latency_ms;
        s.avg_latency_ms = self.latency_sum / s.total_requests as f64;
        let _ = self.latency.record((e.latency_ms.round() as u64).max(1));
        if let Some(ttft) = e.ttft_ms {
            self.ttft_sum += ttft;
            self.ttft_count += 1;
            s.time_to_first_token_ms = Some(self.ttft_sum / self.ttft_count as f64);
        }
        let generating_ms = e.latency_ms - e.ttft_ms.unwrap_or(0.0);
        if e.error.is_none() && e.tokens_out > 0 && generating_ms > 0.0 {
            self.tps_sum += e.tokens_out as f64 * 1000.0 / generating_ms;
            self.tps_count += 1;
            s.tokens_per_second = Some(self.tps_sum / self.tps_count as f64);
        }
        s.error_rate = s.failed_requests as f64 * 100.0 / s.total_requests as f64;
        let minute = ts / 60_000 * 60_000;
        match self.recent.back_mut() {
            Some((t, n)) if *t == minute => *n += 1,
            _ => self.recent.push_back((minute, 1)),
        }
        while self.recent.len() > 5 {
            self.recent.pop_front();
        }
    }
}

/// Adds `id` to a dirty set, allocating only the first time.
fn mark(set: &mut HashSet<String>, id: &str) {
    if !set.contains(id) {
        set.insert(id.to_string());
    }
}

fn set(target: &mut u64, value: Option<u64>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn fill(target: &mut Option<String>, value: Option<String>) {
    if value.is_some() {
        *target = value;
    }
}

#[cfg(test)]
mod tests;
