//! What the API and the live topics read: sorted copies of the hub's entities, the fleet's
//! series and the overview KPIs.

use super::window::quantile;
use super::{Hub, KPI_MINUTES};
use crate::model::*;
use crate::server::store::RollupRow;

impl Hub {
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

    /// Unfinished executions last heard of before `before` (ms).
    pub fn silent_executions(&self, before: i64) -> Vec<String> {
        let s = self.state.read();
        let mut ids: Vec<String> = s
            .executions
            .values()
            .filter(|e| !e.status.is_terminal() && e.updated_at < before)
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids
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
        let mut v: Vec<Plugin> = s.tools.values().map(|p| p.plugin.clone()).collect();
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
        let completed: u64 = recent.iter().map(|p| p.counts.completed).sum();
        let failed: u64 = recent.iter().map(|p| p.counts.failed).sum();
        let cancelled: u64 = recent.iter().map(|p| p.counts.cancelled).sum();
        let finished = completed + failed + cancelled;
        let tokens: u64 = recent.iter().map(|p| p.counts.tokens).sum();
        let cost: f64 = recent.iter().map(|p| p.counts.cost_usd).sum();
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
