//! One run of a demo agent: its execution, log lines, LLM and tool calls, resources and
//! spans, sent as it goes.

use super::fleet::{Profile, ERROR_LINES, INFO_LINES, WARN_LINES};
use super::trace::{now_ns, Trace};
use super::{log, send, COUNTER};
use crate::model::*;
use crate::server::ingest::Ingest;
use rand::rngs::StdRng;
use rand::Rng;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(super) async fn run_execution(ingest: &Ingest, p: &Profile, rng: &mut StdRng) {
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
    // A few end users, each in a few conversations of several turns; most runs in
    // production, some in staging.
    let user = rng.random_range(1..=12);
    let session = format!("conv-{user:02}-{}", rng.random_range(1..=3));
    let environment = if rng.random_range(0..10) < 8 {
        "production"
    } else {
        "staging"
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
            session_id: Some(session),
            user_id: Some(format!("user-{user:02}")),
            environment: Some(environment.into()),
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
