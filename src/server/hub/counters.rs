//! What `/metrics` reads from the hub: counters and HDR histograms, copied under one read lock.

use super::Hub;
use crate::model::{AgentState, AlertState, Severity, TokenUsage};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// A histogram in Prometheus shape: counts per upper bound (seconds, not cumulative; the last
/// bound is `+Inf`), their sum and their number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    pub counts: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Buckets {
    /// Folds the values of an HDR histogram recorded in milliseconds into `bounds` (seconds).
    /// Each value is placed by the lowest value equivalent to it, so a value recorded exactly on
    /// a bound stays in that bound's bucket; the sum uses the median equivalent value.
    pub fn from_hdr_ms(h: &Histogram<u32>, bounds: &[f64]) -> Self {
        let mut counts: Vec<(f64, u64)> = bounds.iter().map(|b| (*b, 0)).collect();
        counts.push((f64::INFINITY, 0));
        let mut sum = 0.0;
        for v in h.iter_recorded() {
            let n = v.count_at_value() as u64;
            let at = v.value_iterated_to();
            let low = h.lowest_equivalent(at) as f64 / 1000.0;
            sum += h.median_equivalent(at) as f64 / 1000.0 * n as f64;
            if let Some(slot) = counts.iter_mut().find(|(bound, _)| low <= *bound) {
                slot.1 += n;
            }
        }
        Self {
            counts,
            sum,
            count: h.len(),
        }
    }

    /// Adds another histogram with the same bounds (to fold capped label values together).
    pub fn merge(&mut self, other: &Buckets) {
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            mine.1 += theirs.1;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// Execution duration buckets, seconds.
pub const DURATION_BOUNDS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// LLM latency buckets, seconds.
pub const LATENCY_BOUNDS: [f64; 11] = [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0];

#[derive(Debug, Clone)]
pub struct AgentMetrics {
    pub id: String,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Not offline (heard from recently or running something).
    pub active: bool,
    pub duration: Buckets,
}

#[derive(Debug, Clone)]
pub struct LlmMetrics {
    pub provider: String,
    pub model: String,
    pub ok: u64,
    pub failed: u64,
    pub tokens: TokenUsage,
    pub cost_usd: f64,
    pub latency: Buckets,
}

#[derive(Debug, Clone)]
pub struct ToolMetrics {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
}

/// One consistent copy of the hub's numbers for a scrape.
#[derive(Debug, Clone, Default)]
pub struct HubMetrics {
    pub agents: Vec<AgentMetrics>,
    pub llm: Vec<LlmMetrics>,
    pub tools: Vec<ToolMetrics>,
    /// Firing alerts per severity (every severity present, zero when none fire).
    pub alerts_firing: BTreeMap<&'static str, u64>,
}

impl Hub {
    /// The numbers `/metrics` exposes, sorted by label so output order is stable.
    pub fn metrics(&self, now: i64) -> HubMetrics {
        let s = self.state.read();
        let mut agents: Vec<AgentMetrics> = s
            .agents
            .values()
            .map(|e| AgentMetrics {
                id: e.agent.id.clone(),
                completed: e.agent.tasks_completed,
                failed: e.agent.tasks_failed,
                cancelled: e.agent.tasks_cancelled,
                active: e.state(now) != AgentState::Offline,
                duration: Buckets::from_hdr_ms(&e.durations, &DURATION_BOUNDS),
            })
            .collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        let mut llm: Vec<LlmMetrics> = s
            .llm
            .values()
            .map(|e| LlmMetrics {
                provider: e.stats.provider.clone(),
                model: e.stats.model.clone(),
                ok: e.stats.successful_requests,
                failed: e.stats.failed_requests,
                tokens: e.stats.usage(),
                cost_usd: e.stats.cost_usd,
                latency: Buckets::from_hdr_ms(&e.latency, &LATENCY_BOUNDS),
            })
            .collect();
        llm.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        let mut tools: Vec<ToolMetrics> = s
            .tools
            .values()
            .map(|p| ToolMetrics {
                name: p.plugin.id.clone(),
                calls: p.plugin.call_count,
                errors: p.plugin.error_count,
            })
            .collect();
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let mut alerts_firing: BTreeMap<&'static str, u64> = [Severity::Info, Severity::Warning, Severity::Critical]
            .iter()
            .map(|s| (s.as_str(), 0))
            .collect();
        for a in s.alerts.iter().filter(|a| a.state == AlertState::Firing) {
            *alerts_firing.entry(a.severity.as_str()).or_default() += 1;
        }
        HubMetrics {
            agents,
            llm,
            tools,
            alerts_firing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdr_values_fall_into_their_buckets() {
        let mut h = super::super::window::new_histogram();
        for ms in [50, 100, 900, 1000, 70_000] {
            h.record(ms).unwrap();
        }
        let b = Buckets::from_hdr_ms(&h, &[0.1, 1.0, 60.0]);
        assert_eq!(b.counts, vec![(0.1, 2), (1.0, 2), (60.0, 0), (f64::INFINITY, 1)]);
        assert_eq!(b.count, 5);
        assert!((b.sum - 72.05).abs() < 72.05 * 0.01, "sum {}", b.sum);
    }
}
