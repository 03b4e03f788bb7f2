//! The built-in rules, after the reference systems, with their thresholds.

use super::rule::{five_minutes, Condition, Rule};
use crate::model::{Labels, Severity};
use std::time::Duration;

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
                threshold_percent: 10.0,
                window: five_minutes(),
                min_executions: 10,
            },
            60,
            Severity::Warning,
            "{{agent_id}}: {{value}} of executions failed over 5 minutes",
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
            "{{agent_id}}: p95 execution duration {{value}}",
        ),
        rule(
            "AgentSilent",
            Condition::AgentSilent {
                after: Duration::from_secs(600),
            },
            0,
            Severity::Warning,
            "{{agent_id}} has not reported for {{value}}",
        ),
        rule(
            "ExecutionStuck",
            Condition::ExecutionStuck {
                after: Duration::from_secs(1800),
                p99_factor: None,
            },
            0,
            Severity::Warning,
            "execution {{execution_id}} of {{agent_id}} is RUNNING for {{value}}",
        ),
        rule(
            "LlmHighErrorRate",
            Condition::LlmErrorRate {
                threshold_percent: 10.0,
                min_requests: 20,
            },
            120,
            Severity::Warning,
            "{{model}}: {{value}} of requests failed",
        ),
        rule(
            "LlmSlow",
            Condition::LlmP95Latency { threshold_ms: 30_000.0 },
            300,
            Severity::Info,
            "{{model}}: p95 latency {{value}}",
        ),
        rule(
            "CostOverBudget",
            Condition::CostPerHour { budget_usd: 50.0 },
            300,
            Severity::Warning,
            "spending {{value}} per hour",
        ),
        rule(
            "HostMemoryHigh",
            Condition::HostMemory {
                threshold_percent: 90.0,
            },
            300,
            Severity::Critical,
            "{{host}}: memory at {{value}}",
        ),
        rule(
            "IngestBacklog",
            Condition::IngestBacklog {
                threshold_percent: 80.0,
            },
            30,
            Severity::Critical,
            "ingest queue {{value}} full",
        ),
    ]
}
