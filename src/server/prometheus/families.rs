//! The `observatory_*` families, built from one [`Sources`] snapshot with capped labels.

use super::{Caps, Family, Kind, Labels, Sample, Value};
use crate::server::hub::{Buckets, HubMetrics};
use std::collections::BTreeMap;

/// Everything a scrape reads, gathered before any family is built.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub hub: HubMetrics,
    pub ingest_accepted: u64,
    /// `(reason, count)` for every reason, zeros included.
    pub ingest_rejected: Vec<(&'static str, u64)>,
    /// Events stored whose agent's live aggregates folded into the overflow agent.
    pub ingest_folded: u64,
    /// Sign-ins refused for a wrong token.
    pub login_failures: u64,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub ws_connections: u64,
    /// `None` when the store could not say.
    pub store_bytes: Option<u64>,
    pub version: &'static str,
}

/// Sums samples whose labels became equal after capping.
#[derive(Default)]
struct Acc {
    numbers: BTreeMap<Labels, f64>,
    histograms: BTreeMap<Labels, Buckets>,
}

impl Acc {
    fn add(&mut self, labels: Labels, v: f64) {
        *self.numbers.entry(labels).or_default() += v;
    }

    fn observe(&mut self, labels: Labels, b: &Buckets) {
        self.histograms.entry(labels).or_default().merge(b);
    }

    fn samples(self) -> Vec<Sample> {
        let numbers = self.numbers.into_iter().map(|(labels, v)| Sample {
            labels,
            value: Value::Number(v),
        });
        let histograms = self.histograms.into_iter().map(|(labels, b)| Sample {
            labels,
            value: Value::Histogram(b),
        });
        numbers.chain(histograms).collect()
    }
}

fn family(name: &'static str, kind: Kind, help: &'static str, acc: Acc) -> Family {
    Family {
        name,
        unit: None,
        help,
        kind,
        samples: acc.samples(),
    }
}

fn single(name: &'static str, kind: Kind, help: &'static str, v: f64) -> Family {
    let mut acc = Acc::default();
    acc.add(vec![], v);
    family(name, kind, help, acc)
}

pub fn families(src: &Sources, caps: &Caps) -> Vec<Family> {
    let hub = &src.hub;
    let mut out = Vec::new();

    let (mut runs, mut durations) = (Acc::default(), Acc::default());
    for a in &hub.agents {
        let agent = caps.agents.label(&a.id);
        for (status, n) in [
            ("completed", a.completed),
            ("failed", a.failed),
            ("cancelled", a.cancelled),
        ] {
            runs.add(vec![("agent", agent.clone()), ("status", status.into())], n as f64);
        }
        durations.observe(vec![("agent", agent)], &a.duration);
    }
    out.push(family(
        "observatory_executions",
        Kind::Counter,
        "Finished executions by agent and final status.",
        runs,
    ));
    let mut duration = family(
        "observatory_execution_duration",
        Kind::Histogram,
        "Duration of finished (not cancelled) executions by agent.",
        durations,
    );
    duration.unit = Some("seconds");
    out.push(duration);
    let active = hub.agents.iter().filter(|a| a.active).count();
    out.push(single(
        "observatory_agents_active",
        Kind::Gauge,
        "Agents not offline (heard from in the last 5 minutes or running something).",
        active as f64,
    ));

    let (mut requests, mut tokens, mut parts, mut latency, mut cost) = (
        Acc::default(),
        Acc::default(),
        Acc::default(),
        Acc::default(),
        Acc::default(),
    );
    for m in &hub.llm {
        let key = format!("{}/{}", m.provider, m.model);
        let (provider, model) = if caps.models.label(&key) == super::OTHER {
            (super::OTHER.to_string(), super::OTHER.to_string())
        } else {
            (m.provider.clone(), m.model.clone())
        };
        let pm = || vec![("provider", provider.clone()), ("model", model.clone())];
        for (status, n) in [("ok", m.ok), ("error", m.failed)] {
            let mut l = pm();
            l.push(("status", status.into()));
            requests.add(l, n as f64);
        }
        for (kind, n) in [("input", m.tokens.input), ("output", m.tokens.output)] {
            let mut l = pm();
            l.push(("type", kind.into()));
            tokens.add(l, n as f64);
        }
        for (kind, n) in [
            ("cache_read", m.tokens.cache_read),
            ("cache_creation", m.tokens.cache_creation),
            ("reasoning", m.tokens.reasoning),
        ] {
            let mut l = pm();
            l.push(("type", kind.into()));
            parts.add(l, n as f64);
        }
        latency.observe(pm(), &m.latency);
        cost.add(pm(), m.cost_usd);
    }
    out.push(family(
        "observatory_llm_requests",
        Kind::Counter,
        "LLM requests by provider, model and status (ok or error).",
        requests,
    ));
    out.push(family(
        "observatory_llm_tokens",
        Kind::Counter,
        "LLM tokens by provider, model and type (input or output).",
        tokens,
    ));
    out.push(family(
        "observatory_llm_token_parts",
        Kind::Counter,
        "Parts of the LLM token counts by provider, model and type: input read from the prompt cache (cache_read) or written to it (cache_creation), output spent on reasoning (reasoning).",
        parts,
    ));
    let mut llm_latency = family(
        "observatory_llm_latency",
        Kind::Histogram,
        "LLM request latency by provider and model (aggregated usage reports count once, at their mean).",
        latency,
    );
    llm_latency.unit = Some("seconds");
    out.push(llm_latency);
    out.push(family(
        "observatory_llm_cost_usd",
        Kind::Counter,
        "LLM cost in US dollars by provider and model.",
        cost,
    ));

    let (mut calls, mut errors) = (Acc::default(), Acc::default());
    for t in &hub.tools {
        let tool = caps.tools.label(&t.name);
        calls.add(vec![("tool", tool.clone())], t.calls as f64);
        errors.add(vec![("tool", tool)], t.errors as f64);
    }
    out.push(family(
        "observatory_tool_calls",
        Kind::Counter,
        "Tool calls by tool.",
        calls,
    ));
    out.push(family(
        "observatory_tool_errors",
        Kind::Counter,
        "Failed tool calls by tool.",
        errors,
    ));

    out.push(single(
        "observatory_websocket_connections",
        Kind::Gauge,
        "Open live WebSocket connections.",
        src.ws_connections as f64,
    ));
    out.push(single(
        "observatory_ingest_events_accepted",
        Kind::Counter,
        "Events accepted and committed by ingest.",
        src.ingest_accepted as f64,
    ));
    let mut rejected = Acc::default();
    for (reason, n) in &src.ingest_rejected {
        rejected.add(vec![("reason", reason.to_string())], *n as f64);
    }
    out.push(family(
        "observatory_ingest_events_rejected",
        Kind::Counter,
        "Ingest refusals by reason: events for validation and overloaded, requests otherwise.",
        rejected,
    ));
    out.push(single(
        "observatory_ingest_events_folded",
        Kind::Counter,
        "Events stored in full whose agent had no room in the live set (`max_agents`): their live aggregates count under agent `_overflow`.",
        src.ingest_folded as f64,
    ));
    out.push(single(
        "observatory_login_failures",
        Kind::Counter,
        "Sign-ins refused for an unknown token (past 10 a minute, sign-in pauses).",
        src.login_failures as f64,
    ));
    out.push(single(
        "observatory_ingest_queue_depth",
        Kind::Gauge,
        "Batches waiting in the ingest queue.",
        src.queue_depth as f64,
    ));
    out.push(single(
        "observatory_ingest_queue_capacity",
        Kind::Gauge,
        "Capacity of the ingest queue, in batches.",
        src.queue_capacity as f64,
    ));
    if let Some(bytes) = src.store_bytes {
        let mut store = single(
            "observatory_store",
            Kind::Gauge,
            "Size of the store on disk (database and write-ahead log).",
            bytes as f64,
        );
        store.unit = Some("bytes");
        out.push(store);
    }
    let mut firing = Acc::default();
    for (severity, n) in &hub.alerts_firing {
        firing.add(vec![("severity", severity.to_string())], *n as f64);
    }
    out.push(family(
        "observatory_alerts_firing",
        Kind::Gauge,
        "Alerts firing by severity.",
        firing,
    ));
    let mut build = Acc::default();
    build.add(vec![("version", src.version.to_string())], 1.0);
    out.push(family(
        "observatory_build",
        Kind::Info,
        "Observatory build information.",
        build,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TokenUsage;
    use crate::server::hub::{AgentMetrics, LlmMetrics, ToolMetrics};
    use crate::server::prometheus::{LabelCap, OTHER};

    fn caps(n: usize) -> Caps {
        Caps {
            agents: LabelCap::new(n),
            models: LabelCap::new(n),
            tools: LabelCap::new(n),
        }
    }

    fn agent(id: &str, completed: u64) -> AgentMetrics {
        AgentMetrics {
            id: id.into(),
            completed,
            failed: 0,
            cancelled: 0,
            active: true,
            duration: Buckets::default(),
        }
    }

    fn number(f: &[Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let fam = f.iter().find(|x| x.name == name)?;
        fam.samples.iter().find_map(|s| {
            let same = s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v));
            match (&s.value, same) {
                (Value::Number(n), true) => Some(*n),
                _ => None,
            }
        })
    }

    #[test]
    fn agents_past_the_cap_are_summed_into_other() {
        let mut src = Sources::default();
        src.hub.agents = vec![agent("a", 1), agent("b", 2), agent("c", 3), agent("d", 4)];
        let f = families(&src, &caps(2));
        let completed = |a| number(&f, "observatory_executions", &[("agent", a), ("status", "completed")]);
        assert_eq!(completed("a"), Some(1.0));
        assert_eq!(completed("b"), Some(2.0));
        assert_eq!(completed(OTHER), Some(7.0));
        assert_eq!(completed("c"), None);
        let series = f
            .iter()
            .find(|x| x.name == "observatory_executions")
            .unwrap()
            .samples
            .len();
        assert_eq!(series, 3 * 3, "three agents' worth of series, three statuses each");
    }

    #[test]
    fn models_and_tools_past_the_cap_fold_too() {
        let mut src = Sources::default();
        let llm = |p: &str, m: &str| LlmMetrics {
            provider: p.into(),
            model: m.into(),
            ok: 1,
            failed: 0,
            tokens: TokenUsage {
                cache_read: 4,
                reasoning: 2,
                ..TokenUsage::new(10, 5)
            },
            cost_usd: 0.5,
            latency: Buckets::default(),
        };
        src.hub.llm = vec![llm("openai", "a"), llm("openai", "b"), llm("x", "c")];
        src.hub.tools = ["t1", "t2"]
            .map(|t| ToolMetrics {
                name: t.into(),
                calls: 3,
                errors: 1,
            })
            .to_vec();
        let f = families(&src, &caps(1));
        let tokens = |p, m| {
            number(
                &f,
                "observatory_llm_tokens",
                &[("provider", p), ("model", m), ("type", "input")],
            )
        };
        assert_eq!(tokens("openai", "a"), Some(10.0));
        let part = |p, m, kind| {
            number(
                &f,
                "observatory_llm_token_parts",
                &[("provider", p), ("model", m), ("type", kind)],
            )
        };
        assert_eq!(part("openai", "a", "cache_read"), Some(4.0));
        assert_eq!(part(OTHER, OTHER, "reasoning"), Some(4.0));
        assert_eq!(tokens(OTHER, OTHER), Some(20.0));
        assert_eq!(
            number(&f, "observatory_llm_cost_usd", &[("provider", OTHER), ("model", OTHER)]),
            Some(1.0)
        );
        assert_eq!(number(&f, "observatory_tool_calls", &[("tool", "t1")]), Some(3.0));
        assert_eq!(number(&f, "observatory_tool_errors", &[("tool", OTHER)]), Some(1.0));
    }

    #[test]
    fn folded_histograms_add_their_buckets() {
        let mut src = Sources::default();
        let b = Buckets {
            counts: vec![(1.0, 1), (f64::INFINITY, 1)],
            sum: 3.0,
            count: 2,
        };
        src.hub.agents = vec![agent("a", 0), agent("b", 0), agent("c", 0)];
        for a in &mut src.hub.agents {
            a.duration = b.clone();
        }
        let f = families(&src, &caps(1));
        let fam = f.iter().find(|x| x.name == "observatory_execution_duration").unwrap();
        let other = fam
            .samples
            .iter()
            .find(|s| s.labels == vec![("agent", OTHER.to_string())])
            .unwrap();
        match &other.value {
            Value::Histogram(h) => {
                assert_eq!(h.count, 4);
                assert_eq!(h.counts, vec![(1.0, 2), (f64::INFINITY, 2)]);
                assert_eq!(h.sum, 6.0);
            }
            Value::Number(_) => panic!("a histogram"),
        }
    }
}
