//! `--demo`: a simulated agent fleet that feeds the real ingest pipeline, so the dashboard
//! comes alive with nothing else running. Eight agents of different kinds, three workflows,
//! executions that take seconds to minutes, logs at every level, LLM calls to several
//! providers, tool calls; one agent is slow and one fails often.

use super::hub::{Bucket, TIERS};
use super::ingest::Ingest;
use super::store::{RollupRow, Store, WriteBatch};
use crate::model::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Profile {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    workflow: Option<&'static str>,
    /// (provider, model)
    models: &'static [(&'static str, &'static str)],
    tools: &'static [&'static str],
    /// Typical run length in seconds (min, max).
    secs: (u64, u64),
    failure_rate: f64,
    concurrency: usize,
}

const FLEET: &[Profile] = &[
    Profile {
        id: "research-agent",
        name: "Research Agent",
        kind: "langgraph",
        workflow: Some("content-pipeline"),
        models: &[("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")],
        tools: &["web_search", "vector_db"],
        secs: (8, 30),
        failure_rate: 0.05,
        concurrency: 2,
    },
    Profile {
        id: "writer-agent",
        name: "Writer Agent",
        kind: "crewai",
        workflow: Some("content-pipeline"),
        models: &[("anthropic", "claude-sonnet-4")],
        tools: &["vector_db"],
        secs: (10, 35),
        failure_rate: 0.04,
        concurrency: 1,
    },
    Profile {
        id: "code-reviewer",
        name: "Code Reviewer",
        kind: "openai-agents",
        workflow: Some("pr-review"),
        models: &[("openai", "o4-mini"), ("openai", "gpt-4.1")],
        tools: &["git_diff", "run_tests"],
        secs: (6, 25),
        failure_rate: 0.08,
        concurrency: 2,
    },
    Profile {
        id: "support-triage",
        name: "Support Triage",
        kind: "mofa",
        workflow: Some("ticket-routing"),
        models: &[("openai", "gpt-4o-mini")],
        tools: &["crm_lookup", "send_email"],
        secs: (3, 12),
        failure_rate: 0.03,
        concurrency: 3,
    },
    Profile {
        id: "data-analyst",
        name: "Data Analyst",
        kind: "langgraph",
        workflow: None,
        models: &[("google", "gemini-2.5-pro"), ("google", "gemini-2.5-flash")],
        tools: &["sql_query", "python_exec"],
        secs: (12, 45),
        failure_rate: 0.06,
        concurrency: 1,
    },
    Profile {
        id: "planner",
        name: "Planner",
        kind: "autogen",
        workflow: Some("pr-review"),
        models: &[("anthropic", "claude-opus-4")],
        tools: &[],
        secs: (5, 20),
        failure_rate: 0.05,
        concurrency: 1,
    },
    Profile {
        id: "batch-summarizer",
        name: "Batch Summarizer (slow)",
        kind: "custom-rust",
        workflow: None,
        models: &[("mistral", "mistral-large"), ("meta", "llama-3.1-70b")],
        tools: &["s3_fetch"],
        secs: (60, 150),
        failure_rate: 0.05,
        concurrency: 1,
    },
    Profile {
        id: "scraper-agent",
        name: "Scraper Agent (flaky)",
        kind: "crewai",
        workflow: Some("ticket-routing"),
        models: &[("deepseek", "deepseek-chat")],
        tools: &["http_fetch", "html_parse"],
        secs: (4, 15),
        failure_rate: 0.45,
        concurrency: 2,
    },
];

const WORKFLOWS: &[(&str, &str, u64)] = &[
    ("content-pipeline", "Content Pipeline", 7),
    ("pr-review", "PR Review", 4),
    ("ticket-routing", "Ticket Routing", 5),
];

const PLUGINS: &[(&str, &str, &str)] = &[
    ("vector_db", "Vector DB", "2.0.0"),
    ("web_search", "Web Search", "1.4.2"),
    ("sql_query", "SQL Query", "0.9.1"),
    ("python_exec", "Python Sandbox", "3.1.0"),
];

const INFO_LINES: &[&str] = &[
    "planning next step",
    "retrieved 12 documents from the knowledge base",
    "calling model with 3 tool definitions",
    "tool result received, 2.1 KB",
    "reflecting on intermediate answer",
    "context window at 41% after summarisation",
    "handing off to downstream agent",
];
const WARN_LINES: &[&str] = &[
    "retrying tool call after timeout (attempt 2 of 3)",
    "rate limit close: 85% of tokens per minute used",
    "response truncated at max_tokens",
];
const ERROR_LINES: &[&str] = &[
    "tool returned HTTP 502 from upstream",
    "schema validation failed for model output",
    "parse error: unexpected token in JSON",
];

static COUNTER: AtomicU64 = AtomicU64::new(0);
/// Messages each agent has sent to and received from the others (MoFA's counters).
static MESSAGES: [(AtomicU64, AtomicU64); 8] = [const { (AtomicU64::new(0), AtomicU64::new(0)) }; 8];

/// Runs the fleet until the task is aborted.
pub async fn run(ingest: Ingest, store: Arc<dyn Store>) {
    backfill(&store).await;
    let mut setup = Vec::new();
    for (id, name, nodes) in WORKFLOWS {
        setup.push(Event::Workflow(WorkflowEvent {
            id: (*id).into(),
            name: Some((*name).into()),
            status: Some("active".into()),
            node_count: Some(*nodes),
            ..Default::default()
        }));
    }
    for (id, name, version) in PLUGINS {
        setup.push(Event::Plugin(PluginEvent {
            id: (*id).into(),
            name: Some((*name).into()),
            version: Some((*version).into()),
            state: Some("running".into()),
            ..Default::default()
        }));
    }
    for p in FLEET {
        let mut labels = Labels::new();
        labels.insert(
            "team".into(),
            if p.workflow == Some("pr-review") {
                "platform".into()
            } else {
                "growth".into()
            },
        );
        labels.insert("env".into(), "demo".into());
        setup.push(Event::Agent(AgentEvent {
            id: p.id.into(),
            name: Some(p.name.into()),
            kind: Some(p.kind.into()),
            version: Some("1.0.0".into()),
            labels,
            ..Default::default()
        }));
    }
    if let Err(e) = ingest.submit(setup).await {
        tracing::warn!(error = %e, "demo setup failed");
    }
    let ingest = Arc::new(ingest);
    let mut workers = Vec::new();
    for (i, p) in FLEET.iter().enumerate() {
        for slot in 0..p.concurrency {
            let ingest = ingest.clone();
            workers.push(tokio::spawn(async move {
                let mut rng = StdRng::from_os_rng();
                // stagger the start so the fleet does not move in lockstep
                tokio::time::sleep(Duration::from_millis((i * 300 + slot * 900) as u64)).await;
                loop {
                    run_execution(&ingest, p, &mut rng).await;
                    let (sent, received) = &MESSAGES[i];
                    let report = AgentEvent {
                        id: p.id.into(),
                        messages_sent: Some(sent.fetch_add(rng.random_range(1..6), Ordering::Relaxed)),
                        messages_received: Some(received.fetch_add(rng.random_range(1..8), Ordering::Relaxed)),
                        ..Default::default()
                    };
                    send(&ingest, vec![Event::Agent(report)]).await;
                    tokio::time::sleep(Duration::from_millis(rng.random_range(500..4000))).await;
                }
            }));
        }
    }
    let mut reload = tokio::time::interval(Duration::from_secs(90));
    reload.tick().await;
    loop {
        reload.tick().await;
        let (id, _, _) = PLUGINS[(COUNTER.load(Ordering::Relaxed) % PLUGINS.len() as u64) as usize];
        let _ = ingest
            .submit(vec![Event::Plugin(PluginEvent {
                id: id.into(),
                reloaded: true,
                ..Default::default()
            })])
            .await;
    }
}

async fn send(ingest: &Ingest, events: Vec<Event>) {
    if let Err(e) = ingest.submit(events).await {
        tracing::debug!(error = %e, "demo event dropped");
    }
}

fn log(exec: &str, level: LogLevel, message: String) -> Event {
    Event::Log(LogEvent {
        execution_id: exec.into(),
        level,
        message,
        ..Default::default()
    })
}

async fn run_execution(ingest: &Ingest, p: &Profile, rng: &mut StdRng) {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("{}-{:05}-{:04x}", p.id, n, rng.random::<u16>());
    let topics = [
        "quarterly report",
        "customer ticket #4821",
        "pull request #317",
        "market scan",
        "onboarding email",
        "invoice batch",
    ];
    let input = format!("Task: {}", topics[rng.random_range(0..topics.len())]);
    // The demo's agents are traced too: each run is one `invoke_agent` span with its model
    // and tool calls as child spans, so the execution page shows a waterfall.
    let trace = Trace {
        trace_id: format!("{:032x}", rng.random::<u128>()),
        root: format!("{:016x}", rng.random::<u64>()),
        execution_id: id.clone(),
        agent_id: p.id.to_string(),
        started: now_ns(),
    };
    send(
        ingest,
        vec![Event::Execution(ExecutionEvent {
            id: id.clone(),
            agent_id: p.id.into(),
            workflow_id: p.workflow.map(String::from),
            status: Some(ExecutionStatus::Pending),
            input: Some(input),
            trace_id: Some(trace.trace_id.clone()),
            ..Default::default()
        })],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
    send(
        ingest,
        vec![
            Event::Status(StatusEvent {
                execution_id: id.clone(),
                status: ExecutionStatus::Running,
                ..Default::default()
            }),
            log(&id, LogLevel::Info, format!("{} started", p.name)),
            log(
                &id,
                LogLevel::Debug,
                format!("config: kind={} concurrency={}", p.kind, p.concurrency),
            ),
        ],
    )
    .await;

    let total_ms = rng.random_range(p.secs.0 * 1000..=p.secs.1 * 1000);
    let fails = rng.random_bool(p.failure_rate);
    let started = tokio::time::Instant::now();
    let mut memory: u64 = rng.random_range(80..200) * 1024 * 1024;
    // One step at a time, as an agent works: it thinks, then makes a call that takes as long
    // as its span and its log line say, so the waterfall reads as the run happened.
    let pause = |ms: f64| tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0));
    while started.elapsed().as_millis() < total_ms as u128 {
        pause(rng.random_range(100.0..600.0)).await;
        let mut events = Vec::new();
        let roll: f64 = rng.random();
        if roll < 0.55 {
            let (provider, model) = p.models[rng.random_range(0..p.models.len())];
            let tokens_in = rng.random_range(300..6000);
            let tokens_out = rng.random_range(50..1200);
            let ttft = rng.random_range(150.0..900.0);
            // Output streams at 100 to 250 tokens a second.
            let latency = ttft + tokens_out as f64 * rng.random_range(4.0..10.0);
            pause(latency).await;
            let error = rng
                .random_bool(if fails { 0.2 } else { 0.02 })
                .then(|| "429 rate limited by provider".to_string());
            let tokens_out = if error.is_some() { 0 } else { tokens_out };
            let mut span = trace.child(rng, format!("chat {model}"), SpanCategory::Llm, "chat", latency, error);
            span.provider = Some(provider.into());
            span.model = Some(model.into());
            // Agents resend their system prompt and history: most calls after the first read
            // part of it from the provider's prompt cache.
            let cached = rng.random_bool(0.7).then(|| tokens_in * rng.random_range(20..80) / 100);
            span.tokens_in = Some(tokens_in);
            span.tokens_out = Some(tokens_out);
            span.cache_read_tokens = cached;
            span.ttft_ms = Some(ttft);
            for (k, v) in [
                ("gen_ai.provider.name", provider.to_string()),
                ("gen_ai.request.model", model.to_string()),
                ("gen_ai.usage.input_tokens", tokens_in.to_string()),
                ("gen_ai.usage.output_tokens", tokens_out.to_string()),
            ] {
                span.attributes.insert(k.into(), v.into());
            }
            // Instrumentations send the cached count only when the cache served some input.
            if let Some(cached) = cached {
                span.attributes
                    .insert("gen_ai.usage.cache_read.input_tokens".into(), cached.to_string().into());
            }
            events.push(trace.event(span));
            events.push(log(
                &id,
                LogLevel::Info,
                format!(
                    "chat {model}: {tokens_in} in / {tokens_out} out tokens in {:.0} ms",
                    latency
                ),
            ));
        } else if roll < 0.8 && !p.tools.is_empty() {
            let tool = p.tools[rng.random_range(0..p.tools.len())];
            let error = rng
                .random_bool(if fails { 0.3 } else { 0.03 })
                .then(|| "timeout after 10 s".to_string());
            let latency = rng.random_range(20.0..900.0);
            pause(latency).await;
            events.push(log(
                &id,
                if error.is_some() {
                    LogLevel::Warn
                } else {
                    LogLevel::Debug
                },
                format!(
                    "execute_tool {tool} ({latency:.0} ms){}",
                    error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ),
            ));
            let mut span = trace.child(
                rng,
                format!("execute_tool {tool}"),
                SpanCategory::Tool,
                "execute_tool",
                latency,
                error,
            );
            span.tool_name = Some(tool.into());
            span.attributes.insert("gen_ai.tool.name".into(), tool.into());
            events.push(trace.event(span));
        } else {
            pause(rng.random_range(300.0..1200.0)).await;
            let (level, lines) = match rng.random_range(0..10) {
                0 => (LogLevel::Warn, WARN_LINES),
                1 => (LogLevel::Trace, &["token stream chunk received", "heartbeat"][..]),
                _ => (LogLevel::Info, INFO_LINES),
            };
            events.push(log(&id, level, lines[rng.random_range(0..lines.len())].to_string()));
        }
        memory = (memory as i64 + rng.random_range(-8_i64..16) * 1024 * 1024).max(64 * 1024 * 1024) as u64;
        events.push(Event::Resource(ResourceEvent {
            execution_id: Some(id.clone()),
            agent_id: None,
            cpu_percent: rng.random_range(2.0..95.0),
            memory_bytes: memory,
            timestamp: None,
        }));
        send(ingest, events).await;
    }

    let mut end = if fails {
        let msg = ERROR_LINES[rng.random_range(0..ERROR_LINES.len())];
        let mut events = vec![log(&id, LogLevel::Error, msg.to_string())];
        if rng.random_bool(0.3) {
            events.push(log(
                &id,
                LogLevel::Fatal,
                "unrecoverable error: giving up after 3 attempts".into(),
            ));
        }
        events.push(Event::Status(StatusEvent {
            execution_id: id.clone(),
            status: ExecutionStatus::Failed,
            error: Some(msg.into()),
            ..Default::default()
        }));
        events
    } else {
        vec![
            log(
                &id,
                LogLevel::Info,
                format!("finished in {:.1} s", started.elapsed().as_secs_f64()),
            ),
            Event::Status(StatusEvent {
                execution_id: id.clone(),
                status: ExecutionStatus::Completed,
                output: Some("ok: result delivered".into()),
                ..Default::default()
            }),
        ]
    };
    let error = fails.then(|| "agent run failed".to_string());
    let mut root = trace.span(
        trace.root.clone(),
        None,
        format!("invoke_agent {}", p.name),
        SpanCategory::Agent,
        "invoke_agent",
        trace.started,
        now_ns(),
        error,
    );
    root.agent_name = Some(p.name.into());
    root.attributes.insert("gen_ai.agent.name".into(), p.name.into());
    root.attributes.insert("gen_ai.agent.id".into(), p.id.into());
    end.push(trace.event(root));
    send(ingest, end).await;
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// One demo run's trace: the root span's id and when the run began.
struct Trace {
    trace_id: String,
    root: String,
    execution_id: String,
    agent_id: String,
    started: u64,
}

impl Trace {
    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        span_id: String,
        parent: Option<String>,
        name: String,
        category: SpanCategory,
        operation: &str,
        start: u64,
        end: u64,
        error: Option<String>,
    ) -> Span {
        let mut span = Span {
            trace_id: self.trace_id.clone(),
            span_id,
            parent_span_id: parent,
            execution_id: self.execution_id.clone(),
            name,
            category,
            span_kind: if category == SpanCategory::Agent {
                "internal"
            } else {
                "client"
            }
            .into(),
            operation: Some(operation.into()),
            service: Some("observatory-demo".into()),
            start_unix_nano: start,
            end_unix_nano: end.max(start),
            status: if error.is_some() {
                SpanStatus::Error
            } else {
                SpanStatus::Ok
            },
            status_message: error,
            ..Default::default()
        };
        span.attributes.insert("gen_ai.operation.name".into(), operation.into());
        span.set_ms();
        span
    }

    /// A child of the root that ended just now after `latency_ms`.
    fn child(
        &self,
        rng: &mut StdRng,
        name: String,
        category: SpanCategory,
        operation: &str,
        latency_ms: f64,
        error: Option<String>,
    ) -> Span {
        let end = now_ns();
        let start = end.saturating_sub((latency_ms * 1e6) as u64).max(self.started);
        let id = format!("{:016x}", rng.random::<u64>());
        self.span(
            id,
            Some(self.root.clone()),
            name,
            category,
            operation,
            start,
            end,
            error,
        )
    }

    fn event(&self, span: Span) -> Event {
        Event::Span(Box::new(SpanEvent {
            span,
            agent_id: self.agent_id.clone(),
            agent_provisional: false,
        }))
    }
}

/// A fresh demo store gets a week of history in its roll-ups (a daily rhythm, the slow and
/// flaky agents' share of failures), so every time range has something to show. The live
/// steps in memory are left alone; only older steps are written, and only once.
pub async fn backfill(store: &Arc<dyn Store>) {
    let now = crate::server::clock::now_ms();
    let week = 7 * 24 * 3_600_000;
    match store.rollups(TIERS[2].0, now - week, now - 3_600_000).await {
        Ok(rows) if rows.is_empty() => {}
        _ => return,
    }
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows = Vec::new();
    for (step, keep) in TIERS {
        let span = if step < 60_000 {
            2 * 3_600_000
        } else if step < 600_000 {
            6 * 3_600_000
        } else {
            week
        };
        let newest = (now.div_euclid(step) - keep as i64) * step;
        let mut t = newest - span;
        while t <= newest {
            rows.push(RollupRow {
                step_ms: step,
                t,
                data: history_step(t, step, &mut rng).encode(),
            });
            t += step;
        }
    }
    let n = rows.len();
    match store
        .commit(WriteBatch {
            rollups: rows,
            ..Default::default()
        })
        .await
    {
        Ok(()) => tracing::info!(steps = n, "demo: a week of history written to the roll-ups"),
        Err(e) => tracing::warn!(error = %e, "demo: history not written"),
    }
}

/// One step of made-up history: executions by status, durations, LLM calls by provider.
fn history_step(t: i64, step: i64, rng: &mut StdRng) -> Bucket {
    let hour = (t / 3_600_000 % 24) as f64;
    // Busy in the working day (UTC), quiet at night; about 2 executions a minute at the peak.
    let load = 0.25 + 0.75 * (((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5);
    let per_min = 2.0 * load * rng.random_range(0.7..1.3);
    let expected = per_min * step as f64 / 60_000.0;
    let n = expected.floor() as u64 + rng.random_bool(expected.fract()) as u64;
    let mut b = Bucket::new(t);
    // An incident on the second day: the flaky agent fails most of its runs for two hours.
    let incident = matches!(t / 3_600_000 % 168, 30 | 31);
    for _ in 0..n {
        b.started += 1;
        let failed = rng.random_bool(if incident { 0.45 } else { 0.08 });
        if failed {
            b.failed += 1;
        } else if rng.random_bool(0.02) {
            b.cancelled += 1;
        } else {
            b.completed += 1;
        }
        let _ = b.durations.record(rng.random_range(6_000..40_000));
        for _ in 0..rng.random_range(2..6) {
            let provider = ["openai", "anthropic", "google", "deepseek"][rng.random_range(0..4)];
            let (tokens_in, tokens_out) = (rng.random_range(300..6000), rng.random_range(50..1200));
            let ttft = rng.random_range(150.0..900.0);
            let latency = ttft + tokens_out as f64 * rng.random_range(8.0..25.0);
            let cost = PRICE_GUESS * (tokens_in + 4 * tokens_out) as f64;
            b.record_llm(
                provider,
                tokens_in + tokens_out,
                cost,
                latency,
                Some(ttft),
                rng.random_bool(0.02),
            );
        }
    }
    b
}

/// Rough USD per token for the made-up history (the live demo uses the real price table).
const PRICE_GUESS: f64 = 2.5e-6;
