//! Alert rules: a typed condition over the hub's aggregates, a `for` duration, a severity,
//! labels, and a summary templated with the value. Built-in defaults follow the reference
//! systems; the TOML config adds rules (`[[alerts.rules]]`) or replaces the defaults.

use crate::model::{ExecutionStatus, Labels, Severity};
use crate::server::config::humantime_serde;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "humantime_serde", default = "zero")]
    pub for_: Duration,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub labels: Labels,
    /// `{{value}}` and `{{label}}` (any label, e.g. `{{agent_id}}`) are replaced.
    pub summary: String,
    #[serde(default)]
    pub description: String,
}

fn zero() -> Duration {
    Duration::ZERO
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// What a rule watches. Aggregate conditions yield one alert per agent / model / host;
/// event conditions one per agent or execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// Failed / finished executions of an agent over the window, in percent.
    AgentErrorRate {
        threshold_percent: f64,
        #[serde(with = "humantime_serde", default = "five_minutes")]
        window: Duration,
        #[serde(default = "one")]
        min_executions: u64,
    },
    /// p95 duration of an agent's executions that finished within the window.
    ExecutionP95 {
        threshold_ms: f64,
        #[serde(with = "humantime_serde", default = "five_minutes")]
        window: Duration,
        #[serde(default = "one")]
        min_executions: u64,
    },
    /// An agent not heard from for this long.
    AgentSilent {
        #[serde(with = "humantime_serde")]
        after: Duration,
    },
    /// An execution RUNNING longer than `after`, or (when set) longer than its agent's p99
    /// times `p99_factor`.
    ExecutionStuck {
        #[serde(with = "humantime_serde")]
        after: Duration,
        #[serde(default)]
        p99_factor: Option<f64>,
    },
    /// Failed / all requests of an LLM model (since start), in percent.
    LlmErrorRate {
        threshold_percent: f64,
        #[serde(default = "ten")]
        min_requests: u64,
    },
    LlmP95Latency {
        threshold_ms: f64,
    },
    /// Fleet cost per hour, from the last 15 minutes.
    CostPerHour {
        budget_usd: f64,
    },
    HostMemory {
        threshold_percent: f64,
    },
    /// Ingest queue depth, in percent of its capacity.
    IngestBacklog {
        threshold_percent: f64,
    },
    /// Event rule: any execution (of `agent_id`, if set) failed within the window.
    ExecutionFailed {
        #[serde(default)]
        agent_id: Option<String>,
        #[serde(with = "humantime_serde", default = "five_minutes")]
        window: Duration,
    },
    /// Event rule: a tool (or any, if unset) failed `count` times within one execution.
    ToolFailures {
        #[serde(default)]
        tool: Option<String>,
        count: u32,
    },
}

fn one() -> u64 {
    1
}
fn ten() -> u64 {
    10
}

/// The rules of the reference systems, with their thresholds.
pub fn defaults() -> Vec<Rule> {
    let rule = |name: &str, condition, for_secs, severity, summary: &str| Rule {
        name: name.into(),
        condition,
        for_: Duration::from_secs(for_secs),
        severity,
        labels: Labels::new(),
        summary: summary.into(),
        description: String::new(),
    };
    vec![
        rule(
            "AgentHighErrorRate",
            Condition::AgentErrorRate {
                threshold_percent: 5.0,
                window: five_minutes(),
                min_executions: 3,
            },
            60,
            Severity::Warning,
            "{{agent_id}}: {{value}}% of executions failed over 5 minutes",
        ),
        rule(
            "AgentSlowExecutions",
            Condition::ExecutionP95 {
                threshold_ms: 120_000.0,
                window: five_minutes(),
                min_executions: 3,
            },
            120,
            Severity::Warning,
            "{{agent_id}}: p95 execution duration {{value}} ms",
        ),
        rule(
            "AgentSilent",
            Condition::AgentSilent {
                after: Duration::from_secs(600),
            },
            0,
            Severity::Warning,
            "{{agent_id}} has not reported for {{value}} s",
        ),
        rule(
            "ExecutionStuck",
            Condition::ExecutionStuck {
                after: Duration::from_secs(1800),
                p99_factor: None,
            },
            0,
            Severity::Warning,
            "execution {{execution_id}} of {{agent_id}} is RUNNING for {{value}} s",
        ),
        rule(
            "LlmHighErrorRate",
            Condition::LlmErrorRate {
                threshold_percent: 10.0,
                min_requests: 20,
            },
            120,
            Severity::Warning,
            "{{model}}: {{value}}% of requests failed",
        ),
        rule(
            "LlmSlow",
            Condition::LlmP95Latency { threshold_ms: 30_000.0 },
            300,
            Severity::Info,
            "{{model}}: p95 latency {{value}} ms",
        ),
        rule(
            "CostOverBudget",
            Condition::CostPerHour { budget_usd: 50.0 },
            300,
            Severity::Warning,
            "spending ${{value}} per hour",
        ),
        rule(
            "HostMemoryHigh",
            Condition::HostMemory {
                threshold_percent: 90.0,
            },
            300,
            Severity::Critical,
            "{{host}}: memory at {{value}}%",
        ),
        rule(
            "IngestBacklog",
            Condition::IngestBacklog {
                threshold_percent: 80.0,
            },
            30,
            Severity::Critical,
            "ingest queue {{value}}% full",
        ),
    ]
}

/// One instance of a condition holding.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observation {
    pub labels: Labels,
    pub value: f64,
    pub exemplar_executions: Vec<String>,
    pub exemplar_agents: Vec<String>,
}

/// A finished execution, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub id: String,
    pub agent_id: String,
    pub status: ExecutionStatus,
    pub duration_ms: u64,
    pub ended_at: i64,
}

/// What the rules look at, gathered once per evaluation.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub now: i64,
    /// Executions finished within the last hour.
    pub finished: Vec<Finished>,
    /// (execution id, agent id, started at) of RUNNING executions.
    pub running: Vec<(String, String, i64)>,
    /// (agent id, last seen, in progress, p99 of its durations).
    pub agents: Vec<(String, i64, u64, Option<f64>)>,
    /// (model id, requests, failed, p95 latency).
    pub llm: Vec<(String, u64, u64, f64)>,
    pub cost_per_hour: f64,
    /// (host, used bytes, total bytes).
    pub hosts: Vec<(String, u64, u64)>,
    pub ingest_depth: u64,
    pub ingest_capacity: u64,
    /// (execution id, agent id, tool, failures).
    pub tool_failures: Vec<(String, String, String, u32)>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The instances of `condition` that hold now.
pub fn evaluate(condition: &Condition, input: &Inputs) -> Vec<Observation> {
    let now = input.now;
    let in_window = |w: &Duration| {
        let from = now - w.as_millis() as i64;
        input.finished.iter().filter(move |f| f.ended_at >= from)
    };
    let by_agent = |w: &Duration| {
        let mut m: std::collections::BTreeMap<&str, Vec<&Finished>> = Default::default();
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
                (finished.len() as u64 >= *min_executions && rate > *threshold_percent).then(|| Observation {
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
                let mut d: Vec<&&Finished> = runs.iter().filter(|f| f.status != ExecutionStatus::Cancelled).collect();
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
            .filter(|(_, seen, in_progress, _)| *in_progress == 0 && now - seen > after.as_millis() as i64)
            .map(|(agent, seen, _, _)| Observation {
                labels: labels(&[("agent_id", agent)]),
                value: ((now - seen) / 1000) as f64,
                exemplar_agents: vec![agent.clone()],
                ..Default::default()
            })
            .collect(),
        Condition::ExecutionStuck { after, p99_factor } => input
            .running
            .iter()
            .filter(|(_, agent, started)| {
                let running_for = (now - started) as f64;
                let p99_limit = p99_factor.and_then(|f| {
                    input
                        .agents
                        .iter()
                        .find(|a| &a.0 == agent)
                        .and_then(|a| a.3)
                        .map(|p| p * f)
                });
                running_for > after.as_millis() as f64 || p99_limit.is_some_and(|l| running_for > l)
            })
            .map(|(id, agent, started)| Observation {
                labels: labels(&[("agent_id", agent), ("execution_id", id)]),
                value: ((now - started) / 1000) as f64,
                exemplar_executions: vec![id.clone()],
                exemplar_agents: vec![agent.clone()],
            })
            .collect(),
        Condition::LlmErrorRate {
            threshold_percent,
            min_requests,
        } => input
            .llm
            .iter()
            .filter_map(|(model, total, failed, _)| {
                let rate = *failed as f64 * 100.0 / (*total).max(1) as f64;
                (total >= min_requests && rate > *threshold_percent).then(|| Observation {
                    labels: labels(&[("model", model)]),
                    value: round(rate),
                    ..Default::default()
                })
            })
            .collect(),
        Condition::LlmP95Latency { threshold_ms } => input
            .llm
            .iter()
            .filter(|(_, _, _, p95)| p95 > threshold_ms)
            .map(|(model, _, _, p95)| Observation {
                labels: labels(&[("model", model)]),
                value: *p95,
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
            .filter_map(|(host, used, total)| {
                let pct = *used as f64 * 100.0 / (*total).max(1) as f64;
                (*total > 0 && pct > *threshold_percent).then(|| Observation {
                    labels: labels(&[("host", host)]),
                    value: round(pct),
                    ..Default::default()
                })
            })
            .collect(),
        Condition::IngestBacklog { threshold_percent } => {
            let pct = input.ingest_depth as f64 * 100.0 / input.ingest_capacity.max(1) as f64;
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
            .filter(|(_, _, t, n)| n >= count && tool.as_deref().is_none_or(|x| x == t))
            .map(|(exec, agent, t, n)| Observation {
                labels: labels(&[("agent_id", agent), ("execution_id", exec), ("tool", t)]),
                value: *n as f64,
                exemplar_executions: vec![exec.clone()],
                exemplar_agents: vec![agent.clone()],
            })
            .collect(),
    }
}

/// The summary with `{{value}}` and `{{label}}` filled in.
pub fn render(template: &str, labels: &Labels, value: f64) -> String {
    let mut out = template.replace("{{value}}", &format!("{value}"));
    for (k, v) in labels {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn finished(id: &str, agent: &str, status: ExecutionStatus, duration_ms: u64, ago_ms: i64) -> Finished {
        Finished {
            id: id.into(),
            agent_id: agent.into(),
            status,
            duration_ms,
            ended_at: NOW - ago_ms,
        }
    }

    #[test]
    fn error_rate_per_agent_over_the_window_with_failed_exemplars() {
        let input = Inputs {
            now: NOW,
            finished: vec![
                finished("a1", "a", ExecutionStatus::Failed, 10, 1000),
                finished("a2", "a", ExecutionStatus::Completed, 10, 1000),
                finished("a3", "a", ExecutionStatus::Failed, 10, 10 * 60_000), // outside the window
                finished("b1", "b", ExecutionStatus::Completed, 10, 1000),
            ],
            ..Default::default()
        };
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

    #[test]
    fn p95_stuck_and_silent() {
        let mut input = Inputs {
            now: NOW,
            ..Default::default()
        };
        input.finished = (1..=20)
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
        input.running = vec![
            ("r1".into(), "slow".into(), NOW - 3_600_000),
            ("r2".into(), "slow".into(), NOW - 1000),
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
        input.agents = vec![("slow".into(), NOW - 1000, 0, Some(500.0))];
        let obs = evaluate(
            &Condition::ExecutionStuck {
                after: Duration::from_secs(1800),
                p99_factor: Some(1.0),
            },
            &input,
        );
        assert_eq!(obs.len(), 2, "r2 runs longer than the agent's p99");
        input.agents = vec![
            ("quiet".into(), NOW - 700_000, 0, None),
            ("busy".into(), NOW - 700_000, 1, None),
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
        let input = Inputs {
            now: NOW,
            finished: vec![
                finished("f", "x", ExecutionStatus::Failed, 1, 1000),
                finished("g", "y", ExecutionStatus::Failed, 1, 1000),
            ],
            tool_failures: vec![
                ("e".into(), "x".into(), "search".into(), 3),
                ("e2".into(), "x".into(), "search".into(), 2),
            ],
            ..Default::default()
        };
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
        let input = Inputs {
            now: NOW,
            cost_per_hour: 60.5,
            hosts: vec![("h".into(), 95, 100), ("ok".into(), 10, 100)],
            ingest_depth: 900,
            ingest_capacity: 1000,
            llm: vec![("openai/gpt-4o".into(), 100, 20, 40_000.0)],
            ..Default::default()
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
        assert_eq!(
            render("{{agent_id}} at {{value}}%", &labels(&[("agent_id", "a")]), 12.5),
            "a at 12.5%"
        );
        assert_eq!(defaults().len(), 9);
    }
}
