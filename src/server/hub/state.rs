//! The hub's state: its maps, their entries, and the lookups that create an entry when new.

use super::window::{new_histogram, quantile, Rollups};
use super::{Applied, HashMap, HashSet, MAX_FINISHED_IN_MEMORY, OFFLINE_AFTER_MS, OVERFLOW_AGENT};
use crate::model::*;
use crate::stream::protocol::Topic;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};

pub(super) struct AgentEntry {
    pub(super) agent: Agent,
    pub(super) durations: Histogram<u32>,
    pub(super) duration_sum: f64,
    pub(super) duration_count: u64,
    /// Set by an agent event; cleared by the next execution transition.
    pub(super) reported_state: Option<AgentState>,
    pub(super) last_failed: bool,
}

pub(super) struct LlmEntry {
    pub(super) stats: LlmStats,
    pub(super) latency: Histogram<u32>,
    pub(super) latency_sum: f64,
    pub(super) ttft_sum: f64,
    pub(super) ttft_count: u64,
    pub(super) tps_sum: f64,
    pub(super) tps_count: u64,
    /// (minute start, requests) for the last few minutes.
    pub(super) recent: VecDeque<(i64, u64)>,
}

pub(super) struct WorkflowEntry {
    pub(super) workflow: Workflow,
    pub(super) duration_sum: f64,
    pub(super) duration_count: u64,
}

pub(super) struct ToolEntry {
    pub(super) plugin: Plugin,
    pub(super) latency_sum: f64,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) agents: HashMap<String, AgentEntry>,
    pub(super) executions: HashMap<String, Execution>,
    pub(super) finished: VecDeque<String>,
    pub(super) workflows: HashMap<String, WorkflowEntry>,
    pub(super) llm: HashMap<String, LlmEntry>,
    /// Tools and plugins, by id: a tool call counts on the entry of its tool's name, and
    /// plugin events set the same entries (the wire and the UI call them plugins).
    pub(super) tools: HashMap<String, ToolEntry>,
    pub(super) hosts: BTreeMap<String, SystemSample>,
    pub(super) resources: HashMap<String, VecDeque<ResourceSample>>,
    /// Failed tool calls per execution and tool, for event rules.
    pub(super) tool_failures: HashMap<String, BTreeMap<String, u32>>,
    pub(super) rollups: Rollups,
    /// Pending, firing and recently resolved alerts, as the alert engine last published them.
    pub(super) alerts: Vec<Alert>,
    /// Executions whose agent is only a fallback (a service name), to be replaced by the
    /// first span that names the agent.
    pub(super) provisional: HashSet<String>,
    /// Agents that exist only as such a fallback: removed once their last execution has
    /// moved to the agent its spans name.
    pub(super) fallback_agents: HashSet<String>,
    /// Models (`provider/model`) whose calls arrive one by one (spans, `llm_call`): their
    /// aggregated usage metrics are not counted again.
    pub(super) llm_from_calls: HashSet<String>,
    /// Agents with their own live entry; one more arriving folds into [`OVERFLOW_AGENT`].
    pub(super) max_agents: usize,
    /// Set when the event being applied had its agent folded (counted per event by `apply`).
    pub(super) folding: bool,
}

#[derive(Default)]
pub(super) struct Dirty {
    pub(super) agents: HashSet<String>,
    pub(super) executions: HashSet<String>,
    pub(super) workflows: HashSet<String>,
    pub(super) llm: HashSet<String>,
    pub(super) tools: HashSet<String>,
    /// Fallback agents left without executions (see `State::fallback_agents`).
    pub(super) removed_agents: HashSet<String>,
}

impl AgentEntry {
    /// Brings the listed p95 up to date with the durations (once per apply: listing 10,000
    /// agents computes no percentiles).
    pub(super) fn refresh_p95(&mut self) {
        if let Some(p95) = quantile(&self.durations, 0.95) {
            self.agent.p95_task_duration_ms = p95;
        }
    }

    pub(super) fn new(agent: Agent) -> Self {
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

    pub(super) fn blank(id: &str, ts: i64) -> Self {
        Self::new(Agent {
            id: id.to_string(),
            name: id.to_string(),
            last_seen: ts,
            ..Default::default()
        })
    }

    pub(super) fn state(&self, now: i64) -> AgentState {
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

    pub(super) fn view(&self, now: i64) -> Agent {
        let mut a = self.agent.clone();
        a.state = self.state(now);
        a
    }
}

impl LlmEntry {
    pub(super) fn new(stats: LlmStats, latency_sum: f64) -> Self {
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

    pub(super) fn view(&self, now: i64) -> LlmStats {
        let mut s = self.stats.clone();
        let start = (now / 60_000 - 4) * 60_000;
        let recent: u64 = self.recent.iter().filter(|(t, _)| *t >= start).map(|(_, n)| n).sum();
        s.requests_per_minute = recent as f64 / 5.0;
        s
    }
}

impl State {
    pub(super) fn new(max_agents: usize) -> Self {
        Self {
            max_agents,
            ..Default::default()
        }
    }

    /// The live entry an agent's aggregates go to, created when new: its own, or, once the
    /// live set holds `max_agents`, the one overflow agent (as Prometheus label caps fold
    /// values). Its executions, spans and log lines keep their agent's id.
    pub(super) fn agent_mut(&mut self, id: &str, ts: i64, dirty: &mut Dirty) -> &mut AgentEntry {
        let id = if self.agents.contains_key(id) || self.agents.len() < self.max_agents {
            id
        } else {
            self.folding = true;
            OVERFLOW_AGENT
        };
        mark(&mut dirty.agents, id);
        if !self.agents.contains_key(id) {
            let mut entry = AgentEntry::blank(id, ts);
            if id == OVERFLOW_AGENT {
                entry.agent.name = "Other agents (past max_agents)".into();
            }
            self.agents.insert(id.to_string(), entry);
        }
        let entry = self.agents.get_mut(id).expect("inserted above");
        entry.agent.last_seen = entry.agent.last_seen.max(ts);
        entry
    }

    /// The live entry holding an agent's aggregates, if any: its own, else the overflow's.
    pub(super) fn agent_entry<'a>(&'a mut self, id: &'a str) -> Option<(&'a str, &'a mut AgentEntry)> {
        let key = if self.agents.contains_key(id) {
            id
        } else {
            OVERFLOW_AGENT
        };
        self.agents.get_mut(key).map(|e| (key, e))
    }

    /// The execution, created (PENDING, for agent `agent_id`) when new.
    pub(super) fn execution_mut(
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
            self.rollups.record(ts, now, |b| b.counts.started += 1);
            let exec = Execution {
                id: id.to_string(),
                agent_id,
                created_at: ts,
                updated_at: ts,
                ..Default::default()
            };
            self.executions.insert(id.to_string(), exec);
            out.topics.insert(Topic::Executions);
        }
        mark(&mut dirty.executions, id);
        let exec = self.executions.get_mut(id).expect("inserted above");
        exec.updated_at = exec.updated_at.max(ts);
        exec
    }

    pub(super) fn workflow_mut(&mut self, id: &str, ts: i64, dirty: &mut Dirty) -> &mut WorkflowEntry {
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

    /// Drops the oldest finished executions past the limit, never the newest `protected`.
    pub(super) fn evict(&mut self, protected: usize) {
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

/// Adds `id` to a dirty set, allocating only the first time.
pub(super) fn mark(set: &mut HashSet<String>, id: &str) {
    if !set.contains(id) {
        set.insert(id.to_string());
    }
}

pub(super) fn set(target: &mut u64, value: Option<u64>) {
    if let Some(v) = value {
        *target = v;
    }
}

pub(super) fn fill(target: &mut Option<String>, value: Option<String>) {
    if value.is_some() {
        *target = value;
    }
}
