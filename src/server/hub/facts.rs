//! What the hub knows of the fleet, gathered in one pass for whoever judges it (the alert
//! rules). The hub states facts; what counts as a problem is the alerts' business.

use super::window::quantile;
use super::{Hub, KPI_MINUTES};
use crate::model::ExecutionStatus;

/// The fleet at one moment.
#[derive(Debug, Clone, Default)]
pub struct FleetFacts {
    pub now: i64,
    /// Executions finished within the last hour, oldest first.
    pub finished: Vec<FinishedRun>,
    /// Executions RUNNING now.
    pub running: Vec<RunningRun>,
    pub agents: Vec<AgentFacts>,
    pub llm: Vec<ModelFacts>,
    /// Fleet cost per hour, from the last [`KPI_MINUTES`] minutes.
    pub cost_per_hour: f64,
    pub hosts: Vec<HostMemory>,
    /// Failed tool calls per execution and tool.
    pub tool_failures: Vec<ToolFailures>,
}

/// A finished execution.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedRun {
    pub id: String,
    pub agent_id: String,
    pub status: ExecutionStatus,
    pub duration_ms: u64,
    pub ended_at: i64,
}

/// A RUNNING execution.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningRun {
    pub id: String,
    pub agent_id: String,
    pub started_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentFacts {
    pub id: String,
    pub last_seen: i64,
    pub in_progress: u64,
    /// p99 of its executions' durations, once it has finished some.
    pub duration_p99_ms: Option<f64>,
}

/// One provider/model's requests since start.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFacts {
    /// `provider/model`.
    pub id: String,
    pub requests: u64,
    pub failed: u64,
    pub latency_p95_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostMemory {
    pub host: String,
    pub used_bytes: u64,
    pub total_bytes: u64,
}

/// How often one tool failed within one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolFailures {
    pub execution_id: String,
    pub agent_id: String,
    pub tool: String,
    pub failures: u32,
}

impl Hub {
    /// The fleet's facts at `now`.
    pub fn facts(&self, now: i64) -> FleetFacts {
        let s = self.state.read();
        let hour_ago = now - 3_600_000;
        let mut finished = Vec::new();
        let mut running = Vec::new();
        for e in s.executions.values() {
            match (e.status, e.ended_at, e.duration_ms) {
                (st, Some(end), Some(d)) if st.is_terminal() && end >= hour_ago => finished.push(FinishedRun {
                    id: e.id.clone(),
                    agent_id: e.agent_id.clone(),
                    status: st,
                    duration_ms: d,
                    ended_at: end,
                }),
                (ExecutionStatus::Running, _, _) => running.push(RunningRun {
                    id: e.id.clone(),
                    agent_id: e.agent_id.clone(),
                    started_at: e.started_at.unwrap_or(e.created_at),
                }),
                _ => {}
            }
        }
        finished.sort_by_key(|f| f.ended_at);
        let agents = s
            .agents
            .values()
            .map(|a| AgentFacts {
                id: a.agent.id.clone(),
                last_seen: a.agent.last_seen,
                in_progress: a.agent.tasks_in_progress,
                duration_p99_ms: quantile(&a.durations, 0.99),
            })
            .collect();
        let llm = s
            .llm
            .values()
            .map(|l| ModelFacts {
                id: l.stats.id.clone(),
                requests: l.stats.total_requests,
                failed: l.stats.failed_requests,
                latency_p95_ms: l.stats.p95_latency_ms,
            })
            .collect();
        let series = s.rollups.minutes().series(now, KPI_MINUTES);
        let cost: f64 = series.iter().map(|p| p.counts.cost_usd).sum();
        let tool_failures = s
            .tool_failures
            .iter()
            .flat_map(|(exec, tools)| {
                let agent = s.executions.get(exec).map(|e| e.agent_id.clone()).unwrap_or_default();
                tools.iter().map(move |(tool, n)| ToolFailures {
                    execution_id: exec.clone(),
                    agent_id: agent.clone(),
                    tool: tool.clone(),
                    failures: *n,
                })
            })
            .collect();
        FleetFacts {
            now,
            finished,
            running,
            agents,
            llm,
            cost_per_hour: cost * 60.0 / KPI_MINUTES as f64,
            hosts: s
                .hosts
                .values()
                .map(|h| HostMemory {
                    host: h.host.clone(),
                    used_bytes: h.memory_used_bytes,
                    total_bytes: h.memory_total_bytes,
                })
                .collect(),
            tool_failures,
        }
    }
}
