//! Evaluation: the instances of a rule's condition that hold now, over what the hub knows of
//! the fleet ([`FleetFacts`]) and how full the ingest queue is; and the summary template.

use super::rule::Condition;
use crate::model::{ExecutionStatus, Labels, ValueUnit};
use crate::server::hub::{FinishedRun, FleetFacts};
use std::time::Duration;

/// One instance of a condition holding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub labels: Labels,
    pub value: f64,
    pub exemplar_executions: Vec<String>,
    pub exemplar_agents: Vec<String>,
}

/// An agent silent this long has gone away: `AgentSilent` stops observing it (and its alert
/// resolves) instead of firing for it forever.
const RETIRED_AFTER_MS: i64 = 24 * 3_600_000;

/// What the rules look at, gathered once per evaluation.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub fleet: FleetFacts,
    pub ingest: QueueLoad,
}

/// The ingest queue's depth against its capacity, in batches.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueLoad {
    pub depth: u64,
    pub capacity: u64,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The instances of `condition` that hold now.
pub fn evaluate(condition: &Condition, inputs: &Inputs) -> Vec<Observation> {
    let input = &inputs.fleet;
    let now = input.now;
    let in_window = |w: &Duration| {
        let from = now - w.as_millis() as i64;
        input.finished.iter().filter(move |f| f.ended_at >= from)
    };
    let by_agent = |w: &Duration| {
        let mut m: std::collections::BTreeMap<&str, Vec<&FinishedRun>> = Default::default();
        for f in in_window(w) {
            m.entry(f.agent_id.as_str()).or_default().push(f);
        }
        m
    };
    match condition {
        Condition::AgentErrorRate {
            threshold_percent,
            window,
            min_executions,
        } => by_agent(window)
            .into_iter()
            .filter_map(|(agent, runs)| {
                let finished: Vec<_> = runs.iter().filter(|f| f.status != ExecutionStatus::Cancelled).collect();
                let failed: Vec<_> = finished
                    .iter()
                    .filter(|f| f.status == ExecutionStatus::Failed)
                    .collect();
                let rate = failed.len() as f64 * 100.0 / finished.len().max(1) as f64;
                let surely_over = wilson_lower(failed.len(), finished.len()) * 100.0 > *threshold_percent;
                (finished.len() as u64 >= *min_executions && surely_over).then(|| Observation {
                    labels: labels(&[("agent_id", agent)]),
                    value: round(rate),
                    exemplar_executions: failed.iter().rev().take(5).map(|f| f.id.clone()).collect(),
                    exemplar_agents: vec![agent.to_string()],
                })
            })
            .collect(),
        Condition::ExecutionP95 {
            threshold_ms,
            window,
            min_executions,
        } => by_agent(window)
            .into_iter()
            .filter_map(|(agent, runs)| {
                let mut d: Vec<&&FinishedRun> =
                    runs.iter().filter(|f| f.status != ExecutionStatus::Cancelled).collect();
                d.sort_by_key(|f| f.duration_ms);
                let p95 = d
                    .get(((d.len() as f64 - 1.0) * 0.95).round().max(0.0) as usize)?
                    .duration_ms as f64;
                (d.len() as u64 >= *min_executions && p95 > *threshold_ms).then(|| Observation {
                    labels: labels(&[("agent_id", agent)]),
                    value: p95,
                    exemplar_executions: d.iter().rev().take(3).map(|f| f.id.clone()).collect(),
                    exemplar_agents: vec![agent.to_string()],
                })
            })
            .collect(),
        Condition::AgentSilent { after } => input
            .agents
            .iter()
            .filter(|a| {
                let silent_for = now - a.last_seen;
                a.in_progress == 0 && silent_for > after.as_millis() as i64 && silent_for <= RETIRED_AFTER_MS
            })
            .map(|a| Observation {
                labels: labels(&[("agent_id", &a.id)]),
                value: ((now - a.last_seen) / 1000) as f64,
                exemplar_agents: vec![a.id.clone()],
                ..Default::default()
            })
            .collect(),
        Condition::ExecutionStuck { after, p99_factor } => input
            .running
            .iter()
            .filter(|r| {
                let running_for = (now - r.started_at) as f64;
                let p99_limit = p99_factor.and_then(|f| {
                    input
                        .agents
                        .iter()
                        .find(|a| a.id == r.agent_id)
                        .and_then(|a| a.duration_p99_ms)
                        .map(|p| p * f)
                });
                running_for > after.as_millis() as f64 || p99_limit.is_some_and(|l| running_for > l)
            })
            .map(|r| Observation {
                labels: labels(&[("agent_id", &r.agent_id), ("execution_id", &r.id)]),
                value: ((now - r.started_at) / 1000) as f64,
                exemplar_executions: vec![r.id.clone()],
                exemplar_agents: vec![r.agent_id.clone()],
            })
            .collect(),
        Condition::LlmErrorRate {
            threshold_percent,
            min_requests,
        } => input
            .llm
            .iter()
            .filter_map(|m| {
                let rate = m.failed as f64 * 100.0 / m.requests.max(1) as f64;
                let surely_over = wilson_lower(m.failed as usize, m.requests as usize) * 100.0 > *threshold_percent;
                (m.requests >= *min_requests && surely_over).then(|| Observation {
                    labels: labels(&[("model", &m.id)]),
                    value: round(rate),
                    ..Default::default()
                })
            })
            .collect(),
        Condition::LlmP95Latency { threshold_ms } => input
            .llm
            .iter()
            .filter(|m| m.latency_p95_ms > *threshold_ms)
            .map(|m| Observation {
                labels: labels(&[("model", &m.id)]),
                value: m.latency_p95_ms,
                ..Default::default()
            })
            .collect(),
        Condition::CostPerHour { budget_usd } => (input.cost_per_hour > *budget_usd)
            .then(|| Observation {
                value: (input.cost_per_hour * 100.0).round() / 100.0,
                ..Default::default()
            })
            .into_iter()
            .collect(),
        Condition::HostMemory { threshold_percent } => input
            .hosts
            .iter()
            .filter_map(|h| {
                let pct = h.used_bytes as f64 * 100.0 / h.total_bytes.max(1) as f64;
                (h.total_bytes > 0 && pct > *threshold_percent).then(|| Observation {
                    labels: labels(&[("host", &h.host)]),
                    value: round(pct),
                    ..Default::default()
                })
            })
            .collect(),
        Condition::IngestBacklog { threshold_percent } => {
            let pct = inputs.ingest.depth as f64 * 100.0 / inputs.ingest.capacity.max(1) as f64;
            (pct > *threshold_percent)
                .then(|| Observation {
                    value: round(pct),
                    ..Default::default()
                })
                .into_iter()
                .collect()
        }
        Condition::ExecutionFailed { agent_id, window } => by_agent(window)
            .into_iter()
            .filter(|(agent, _)| agent_id.as_deref().is_none_or(|a| a == *agent))
            .filter_map(|(agent, runs)| {
                let failed: Vec<_> = runs.iter().filter(|f| f.status == ExecutionStatus::Failed).collect();
                (!failed.is_empty()).then(|| Observation {
                    labels: labels(&[("agent_id", agent)]),
                    value: failed.len() as f64,
                    exemplar_executions: failed.iter().rev().take(5).map(|f| f.id.clone()).collect(),
                    exemplar_agents: vec![agent.to_string()],
                })
            })
            .collect(),
        Condition::ToolFailures { tool, count } => input
            .tool_failures
            .iter()
            .filter(|f| f.failures >= *count && tool.as_deref().is_none_or(|x| x == f.tool))
            .map(|f| Observation {
                labels: labels(&[
                    ("agent_id", &f.agent_id),
                    ("execution_id", &f.execution_id),
                    ("tool", &f.tool),
                ]),
                value: f.failures as f64,
                exemplar_executions: vec![f.execution_id.clone()],
                exemplar_agents: vec![f.agent_id.clone()],
            })
            .collect(),
    }
}

/// The lower bound of the 95 % Wilson score interval of a proportion of `hits` in `n`: the
/// rate it is at least, with 95 % confidence (0 when there is nothing to judge).
fn wilson_lower(hits: usize, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    const Z: f64 = 1.96;
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).max(0.0)
}

/// The summary with `{{value}}` (with its unit), `{{raw_value}}` and `{{label}}` filled in.
pub fn render(template: &str, labels: &Labels, value: f64, unit: ValueUnit) -> String {
    let mut out = template
        .replace("{{value}}", &unit.format(value))
        .replace("{{raw_value}}", &format!("{value}"));
    for (k, v) in labels {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::alerts::defaults;
    use crate::server::alerts::rule::{five_minutes, Rule};
    use crate::server::hub::{AgentFacts, HostMemory, ModelFacts, RunningRun, ToolFailures};
    use serde::Deserialize;

    const NOW: i64 = 1_800_000_000_000;

    fn finished(id: &str, agent: &str, status: ExecutionStatus, duration_ms: u64, ago_ms: i64) -> FinishedRun {
        FinishedRun {
            id: id.into(),
            agent_id: agent.into(),
            status,
            duration_ms,
            ended_at: NOW - ago_ms,
        }
    }

    fn fleet(fleet: FleetFacts) -> Inputs {
        Inputs {
            fleet,
            ..Default::default()
        }
    }

    fn running(id: &str, agent: &str, started_at: i64) -> RunningRun {
        RunningRun {
            id: id.into(),
            agent_id: agent.into(),
            started_at,
        }
    }

    fn agent(id: &str, last_seen: i64, in_progress: u64, duration_p99_ms: Option<f64>) -> AgentFacts {
        AgentFacts {
            id: id.into(),
            last_seen,
            in_progress,
            duration_p99_ms,
        }
    }

    #[test]
    fn error_rate_per_agent_over_the_window_with_failed_exemplars() {
        let input = fleet(FleetFacts {
            now: NOW,
            finished: vec![
                finished("a1", "a", ExecutionStatus::Failed, 10, 1000),
                finished("a2", "a", ExecutionStatus::Completed, 10, 1000),
                finished("a3", "a", ExecutionStatus::Failed, 10, 10 * 60_000), // outside the window
                finished("b1", "b", ExecutionStatus::Completed, 10, 1000),
            ],
            ..Default::default()
        });
        let c = Condition::AgentErrorRate {
            threshold_percent: 5.0,
            window: five_minutes(),
            min_executions: 1,
        };
        let obs = evaluate(&c, &input);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].labels["agent_id"], "a");
        assert_eq!(obs[0].value, 50.0);
        assert_eq!(obs[0].exemplar_executions, ["a1"]);
        let strict = Condition::AgentErrorRate {
            threshold_percent: 5.0,
            window: five_minutes(),
            min_executions: 3,
        };
        assert!(evaluate(&strict, &input).is_empty(), "too few executions to judge");
    }

    /// The built-in error-rate rule over 30 runs per agent in five minutes, as the demo's
    /// agents run: failure rates of 3 to 8 % (and the unlucky windows of them) stay quiet, the
    /// flaky agent at 45 % fires.
    #[test]
    fn default_error_rate_rule_ignores_normal_failures_and_catches_a_failing_agent() {
        let rule = defaults::defaults()
            .into_iter()
            .find(|r| r.name == "AgentHighErrorRate")
            .unwrap();
        let mut runs = Vec::new();
        for (agent, failed) in [
            ("steady", 1),
            ("typical", 2),
            ("unlucky", 4),
            ("worst-window", 5),
            ("flaky", 14),
        ] {
            for i in 0..30 {
                let status = if i < failed {
                    ExecutionStatus::Failed
                } else {
                    ExecutionStatus::Completed
                };
                runs.push(finished(&format!("{agent}{i}"), agent, status, 10, 1000 + i as i64));
            }
        }
        let input = fleet(FleetFacts {
            now: NOW,
            finished: runs,
            ..Default::default()
        });
        let obs = evaluate(&rule.condition, &input);
        let fired: Vec<_> = obs.iter().map(|o| o.labels["agent_id"].as_str()).collect();
        assert_eq!(fired, ["flaky"]);
        assert_eq!(obs[0].value, 46.7);
        assert_eq!(
            render(&rule.summary, &obs[0].labels, obs[0].value, rule.condition.unit()),
            "flaky: 46.7% of executions failed over 5 minutes"
        );
        assert_eq!(wilson_lower(0, 0), 0.0);
        assert!((wilson_lower(14, 30) - 0.3023).abs() < 1e-3, "{}", wilson_lower(14, 30));
    }

    #[test]
    fn p95_stuck_and_silent() {
        let mut input = fleet(FleetFacts {
            now: NOW,
            ..Default::default()
        });
        input.fleet.finished = (1..=20)
            .map(|i| finished(&format!("x{i}"), "slow", ExecutionStatus::Completed, i * 1000, 1000))
            .collect();
        let obs = evaluate(
            &Condition::ExecutionP95 {
                threshold_ms: 15_000.0,
                window: five_minutes(),
                min_executions: 5,
            },
            &input,
        );
        assert_eq!(obs[0].value, 19_000.0);
        input.fleet.running = vec![
            running("r1", "slow", NOW - 3_600_000),
            running("r2", "slow", NOW - 1000),
        ];
        let obs = evaluate(
            &Condition::ExecutionStuck {
                after: Duration::from_secs(1800),
                p99_factor: None,
            },
            &input,
        );
        assert_eq!(
            obs.iter()
                .map(|o| o.labels["execution_id"].as_str())
                .collect::<Vec<_>>(),
            ["r1"]
        );
        input.fleet.agents = vec![agent("slow", NOW - 1000, 0, Some(500.0))];
        let obs = evaluate(
            &Condition::ExecutionStuck {
                after: Duration::from_secs(1800),
                p99_factor: Some(1.0),
            },
            &input,
        );
        assert_eq!(obs.len(), 2, "r2 runs longer than the agent's p99");
        input.fleet.agents = vec![
            agent("quiet", NOW - 700_000, 0, None),
            agent("busy", NOW - 700_000, 1, None),
            // Gone for a day: retired, not silent forever.
            agent("gone", NOW - 25 * 3_600_000, 0, None),
        ];
        let obs = evaluate(
            &Condition::AgentSilent {
                after: Duration::from_secs(600),
            },
            &input,
        );
        assert_eq!(
            obs.iter().map(|o| o.labels["agent_id"].as_str()).collect::<Vec<_>>(),
            ["quiet"]
        );
    }

    #[test]
    fn event_rules() {
        let tool_failures = |execution_id: &str, failures| ToolFailures {
            execution_id: execution_id.into(),
            agent_id: "x".into(),
            tool: "search".into(),
            failures,
        };
        let input = fleet(FleetFacts {
            now: NOW,
            finished: vec![
                finished("f", "x", ExecutionStatus::Failed, 1, 1000),
                finished("g", "y", ExecutionStatus::Failed, 1, 1000),
            ],
            tool_failures: vec![tool_failures("e", 3), tool_failures("e2", 2)],
            ..Default::default()
        });
        let obs = evaluate(
            &Condition::ExecutionFailed {
                agent_id: Some("x".into()),
                window: five_minutes(),
            },
            &input,
        );
        assert_eq!((obs.len(), obs[0].exemplar_executions[0].as_str()), (1, "f"));
        let obs = evaluate(
            &Condition::ToolFailures {
                tool: Some("search".into()),
                count: 3,
            },
            &input,
        );
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].labels["execution_id"], "e");
    }

    #[test]
    fn fleet_and_host_rules() {
        let host = |host: &str, used_bytes| HostMemory {
            host: host.into(),
            used_bytes,
            total_bytes: 100,
        };
        let input = Inputs {
            fleet: FleetFacts {
                now: NOW,
                cost_per_hour: 60.5,
                hosts: vec![host("h", 95), host("ok", 10)],
                llm: vec![ModelFacts {
                    id: "openai/gpt-4o".into(),
                    requests: 100,
                    failed: 20,
                    latency_p95_ms: 40_000.0,
                }],
                ..Default::default()
            },
            ingest: QueueLoad {
                depth: 900,
                capacity: 1000,
            },
        };
        assert_eq!(
            evaluate(&Condition::CostPerHour { budget_usd: 50.0 }, &input)[0].value,
            60.5
        );
        assert_eq!(
            evaluate(
                &Condition::HostMemory {
                    threshold_percent: 90.0
                },
                &input
            )
            .len(),
            1
        );
        assert_eq!(
            evaluate(
                &Condition::IngestBacklog {
                    threshold_percent: 80.0
                },
                &input
            )[0]
            .value,
            90.0
        );
        assert_eq!(
            evaluate(
                &Condition::LlmErrorRate {
                    threshold_percent: 10.0,
                    min_requests: 10
                },
                &input
            )[0]
            .value,
            20.0
        );
        assert_eq!(
            evaluate(&Condition::LlmP95Latency { threshold_ms: 30_000.0 }, &input).len(),
            1
        );
    }

    #[test]
    fn rules_parse_from_toml_and_templates_render() {
        #[derive(Deserialize)]
        struct F {
            rules: Vec<Rule>,
        }
        let f: F = toml::from_str(
            r#"
            [[rules]]
            name = "ResearchFails"
            for = "30s"
            severity = "critical"
            summary = "{{agent_id}} failed {{value}} times"
            condition = { kind = "execution_failed", agent_id = "research", window = "10m" }
            "#,
        )
        .unwrap();
        assert_eq!(f.rules[0].for_, Duration::from_secs(30));
        assert!(matches!(f.rules[0].condition, Condition::ExecutionFailed { .. }));
        let bad = toml::from_str::<F>(
            "[[rules]]\nname='x'\nsummary='s'\ncondition = { kind = 'agent_error_rate', threshold = 5 }\n",
        );
        assert!(bad.is_err());
        let a = labels(&[("agent_id", "a")]);
        assert_eq!(
            render("{{agent_id}} at {{value}}", &a, 12.5, ValueUnit::Percent),
            "a at 12.5%"
        );
        assert_eq!(render("p95 {{value}}", &a, 137_200.0, ValueUnit::Millis), "p95 2m 17s");
        assert_eq!(
            render("silent {{value}}", &a, 620.0, ValueUnit::Seconds),
            "silent 10m 20s"
        );
        assert_eq!(
            render("{{value}} per hour", &a, 61.5, ValueUnit::Usd),
            "$61.50 per hour"
        );
        assert_eq!(
            render("{{raw_value}} ms", &a, 137_200.0, ValueUnit::Millis),
            "137200 ms"
        );
        assert_eq!(defaults::defaults().len(), 9);
    }
}
