//! Dashboard read-path figures at fleet scale: `GET /api/agents` with 10,000 agents, and a
//! chart's series for each time range (a 7-day chart reads stored roll-ups, a 15-minute one
//! memory), over real HTTP against a server on a bound port.
//!
//! Run: `cargo bench --bench dashboard --features ssr` (prints its figures; asserts nothing).

use observatory::model::{AgentEvent, Event, ExecutionEvent, ExecutionStatus, StatusEvent};
mod common;

use std::time::Instant;

const AGENTS: usize = 10_000;
const REQUESTS: usize = 200;

async fn time_get(client: &reqwest::Client, url: &str) -> (Vec<f64>, usize) {
    let mut times = Vec::with_capacity(REQUESTS);
    let mut bytes = 0;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let body = client.get(url).send().await.unwrap().bytes().await.unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times, bytes)
}

#[tokio::main]
async fn main() {
    let common::Bench {
        state, addr, collector, ..
    } = common::start().await;

    // 10,000 agents with labels, each with a finished execution (so percentiles are filled).
    for chunk in (0..AGENTS).collect::<Vec<_>>().chunks(1000) {
        let mut events = Vec::new();
        for &i in chunk {
            let id = format!("agent-{i:05}");
            events.push(Event::Agent(AgentEvent {
                id: id.clone(),
                name: Some(format!("Agent {i:05}")),
                kind: Some(["langgraph", "crewai", "autogen"][i % 3].into()),
                labels: [("team".to_string(), format!("team-{}", i % 20))].into_iter().collect(),
                ..Default::default()
            }));
            let exec = format!("run-{i:05}");
            events.push(Event::Execution(ExecutionEvent {
                id: exec.clone(),
                agent_id: id,
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            }));
            events.push(Event::Status(StatusEvent {
                execution_id: exec,
                status: if i % 10 == 0 {
                    ExecutionStatus::Failed
                } else {
                    ExecutionStatus::Completed
                },
                ..Default::default()
            }));
        }
        collector.send(events).await.unwrap();
    }

    // A week of roll-ups in the store, as the demo writes them: the long ranges read them.
    observatory::server::demo::backfill(&state.store).await;

    let client = reqwest::Client::new();
    let (times, bytes) = time_get(&client, &format!("http://{addr}/api/agents")).await;
    println!(
        "GET /api/agents, {AGENTS} agents, {REQUESTS} requests: p50 {:.2} ms, p99 {:.2} ms, {:.1} MB JSON",
        common::percentile(&times, 0.5),
        common::percentile(&times, 0.99),
        bytes as f64 / 1e6
    );
    for range in ["15m", "1h", "6h", "24h", "7d"] {
        let (times, bytes) = time_get(&client, &format!("http://{addr}/api/series?range={range}")).await;
        println!(
            "GET /api/series?range={range:>3}: p50 {:.2} ms, p99 {:.2} ms, {} KB",
            common::percentile(&times, 0.5),
            common::percentile(&times, 0.99),
            bytes / 1000
        );
    }
}
