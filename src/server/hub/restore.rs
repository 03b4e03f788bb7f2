//! State from the store: the start-up snapshot, roll-up steps, and executions a batch refers
//! to that memory no longer holds.

use super::state::{AgentEntry, LlmEntry, State, ToolEntry, WorkflowEntry};
use super::{HashSet, Hub, TIERS};
use crate::model::*;
use crate::server::store::{RollupRange, RollupRow, Snapshot, Store, StoreResult};

/// Finished executions [`Hub::reload`] brings back (older ones are read from the store).
const RELOAD_FINISHED_MS: i64 = 24 * 3600 * 1000;
use std::sync::atomic::Ordering;

/// What [`Hub::reload`] read back.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reloaded {
    pub agents: usize,
    pub executions: usize,
    /// Stored rows that do not decode, left out (each logged).
    pub skipped: u64,
    /// The fleet's stream position of what was read: a follower goes on from the next one.
    pub bus_position: u64,
}

impl Hub {
    /// Replaces live state with what the store holds: at start, and after a failed commit
    /// (the hub then holds nothing the store lacks). Finished executions of the last day come
    /// back, and the roll-ups each tier keeps; the alerts the engine published stay.
    pub async fn reload(&self, store: &dyn Store, now: i64) -> StoreResult<Reloaded> {
        let ranges = TIERS.map(|(step_ms, keep)| RollupRange {
            step_ms,
            from: now - keep as i64 * step_ms,
        });
        let mut snapshot = store.snapshot(now - RELOAD_FINISHED_MS, ranges.to_vec()).await?;
        let rollups = std::mem::take(&mut snapshot.rollups);
        let out = Reloaded {
            agents: snapshot.agents.len(),
            executions: snapshot.executions.len(),
            skipped: snapshot.skipped,
            bus_position: snapshot.bus_position,
        };
        {
            let mut s = self.state.write();
            let alerts = std::mem::take(&mut s.alerts);
            *s = State::new(self.limits.max_agents);
            s.alerts = alerts;
        }
        self.restore(snapshot, now);
        self.restore_rollups(rollups, now);
        Ok(out)
    }

    /// Rebuilds live state from the store at start-up (at `now`: what has been idle past
    /// `retire_after` stays in the store only).
    pub fn restore(&self, snap: Snapshot, now: i64) {
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
            s.tools.insert(plugin.id.clone(), ToolEntry { plugin, latency_sum });
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
        s.retire(now - self.limits.retire_after_ms);
        s.evict(0);
        self.agent_count.store(s.agents.len(), Ordering::Relaxed);
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

    /// Roll-up steps read back from the store at start-up.
    pub fn restore_rollups(&self, rows: Vec<RollupRow>, now: i64) {
        self.state.write().rollups.restore(rows, now);
    }
}
