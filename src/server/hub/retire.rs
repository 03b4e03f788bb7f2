//! The live set's bounds. Producers choose the ids, and some frameworks make a new agent per
//! trace: past `max_agents` agents, new ones fold into one overflow agent for the live
//! aggregates (their executions, spans and log lines keep their own agent and are stored in
//! full); agents, tools, models, workflows and hosts idle longer than `retire_after` leave
//! memory, and stay in the store for history.

use super::state::State;
use super::{HashMap, Hub};
use crate::model::Event;
use std::sync::atomic::Ordering;

/// The agent that holds the live aggregates of agents past `max_agents`.
pub const OVERFLOW_AGENT: &str = "_overflow";

/// How large the live set may grow.
#[derive(Debug, Clone, Copy)]
pub struct LiveLimits {
    /// Agents with their own live entry.
    pub max_agents: usize,
    /// Entities idle this long leave the live set.
    pub retire_after_ms: i64,
}

impl Default for LiveLimits {
    fn default() -> Self {
        Self {
            max_agents: 50_000,
            retire_after_ms: 24 * 3600 * 1000,
        }
    }
}

/// What one [`Hub::retire`] took out of the live set, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Retired {
    pub agents: Vec<String>,
    pub tools: usize,
    pub models: usize,
    pub workflows: usize,
    pub hosts: usize,
}

impl Retired {
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty() && self.tools + self.models + self.workflows + self.hosts == 0
    }
}

impl Hub {
    pub fn limits(&self) -> LiveLimits {
        self.limits
    }

    /// Agents in the live set.
    pub fn agent_count(&self) -> usize {
        self.agent_count.load(Ordering::Relaxed)
    }

    /// How many of these events name an agent the live set has no room for (a forecast for
    /// the producer's answer: the pipeline decides, and counts, when it applies them).
    pub fn agents_to_fold(&self, events: &[Event]) -> usize {
        let max = self.limits.max_agents;
        // Far from the limit (always, but for a runaway producer), without taking the lock.
        if self.agent_count.load(Ordering::Relaxed) + events.len() <= max {
            return 0;
        }
        let s = self.state.read();
        // Each new agent once, in order, as `apply` decides: it finds room, or it folds.
        let mut room = max.saturating_sub(s.agents.len());
        let mut folds: HashMap<&str, bool> = HashMap::default();
        events
            .iter()
            .filter_map(Event::agent_id)
            .filter(|id| !s.agents.contains_key(*id))
            .filter(|id| {
                *folds.entry(id).or_insert_with(|| {
                    let fold = room == 0;
                    room = room.saturating_sub(1);
                    fold
                })
            })
            .count()
    }

    /// Takes out of the live set what has been idle for `retire_after` at `now`: agents with
    /// nothing in progress, tools, models, workflows with no running instance, hosts.
    pub fn retire(&self, now: i64) -> Retired {
        let cutoff = now - self.limits.retire_after_ms;
        let mut s = self.state.write();
        let out = s.retire(cutoff);
        self.agent_count.store(s.agents.len(), Ordering::Relaxed);
        out
    }
}

impl State {
    pub(super) fn retire(&mut self, cutoff: i64) -> Retired {
        let mut out = Retired::default();
        self.agents.retain(|id, a| {
            let keep = a.agent.tasks_in_progress > 0 || a.agent.last_seen >= cutoff;
            if !keep {
                out.agents.push(id.clone());
            }
            keep
        });
        for id in &out.agents {
            self.fallback_agents.remove(id);
        }
        let before = self.tools.len();
        self.tools.retain(|_, t| {
            let last = t.plugin.last_call.max(t.plugin.last_reload);
            last.is_none_or(|t| t >= cutoff)
        });
        out.tools = before - self.tools.len();
        let before = self.llm.len();
        self.llm.retain(|id, m| {
            let keep = m.stats.last_request >= cutoff;
            if !keep {
                self.llm_from_calls.remove(id);
            }
            keep
        });
        out.models = before - self.llm.len();
        let before = self.workflows.len();
        self.workflows
            .retain(|_, w| w.workflow.running_instances > 0 || w.workflow.last_run.is_none_or(|t| t >= cutoff));
        out.workflows = before - self.workflows.len();
        let before = self.hosts.len();
        self.hosts.retain(|_, h| h.timestamp >= cutoff);
        out.hosts = before - self.hosts.len();
        out.agents.sort();
        out
    }
}
