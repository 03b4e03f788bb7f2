//! `--demo`: a simulated agent fleet that feeds the real ingest pipeline, so the dashboard
//! comes alive with nothing else running. Eight agents of different kinds, three workflows,
//! executions that take seconds to minutes, logs at every level, LLM calls to several
//! providers, tool calls; one agent is slow and one fails often.
//!
//! - `fleet.rs`: the agents, workflows, plugins and lines the fleet is made of;
//! - `execution.rs`: one run of an agent, as events; `trace.rs`: its spans;
//! - `history.rs`: a day of roll-ups written before the fleet starts, so charts have a past.

mod execution;
mod fleet;
mod history;
mod trace;

pub use history::backfill;

use super::ingest::Ingest;
use super::store::Store;
use crate::model::*;
use execution::run_execution;
use fleet::{FLEET, PLUGINS, WORKFLOWS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub(super) static COUNTER: AtomicU64 = AtomicU64::new(0);
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

pub(super) async fn send(ingest: &Ingest, events: Vec<Event>) {
    if let Err(e) = ingest.submit(events).await {
        tracing::debug!(error = %e, "demo event dropped");
    }
}

pub(super) fn log(exec: &str, level: LogLevel, message: String) -> Event {
    Event::Log(LogEvent {
        execution_id: exec.into(),
        level,
        message,
        ..Default::default()
    })
}
