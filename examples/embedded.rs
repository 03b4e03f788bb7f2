//! An agent program that embeds Observatory: it starts the dashboard in-process on
//! http://127.0.0.1:8090 and reports its own work through the collector.
//!
//! Run: `cargo run --example embedded --features ssr`

use observatory::model::{AgentEvent, ExecutionEvent, ExecutionStatus, LlmCallEvent, LogLevel};
use observatory::{DashboardConfig, DashboardServer};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = DashboardConfig::new()
        .with_host("127.0.0.1")
        .with_port(8090)
        .with_cors(true)
        .with_ws_interval(Duration::from_secs(1))
        .with_data_dir("./observatory-embedded-data");
    let server = DashboardServer::new(config).await?;
    let collector = server.collector();

    tokio::spawn(async move {
        let agent = AgentEvent {
            id: "my-agent".into(),
            name: Some("My Agent".into()),
            kind: Some("custom".into()),
            ..Default::default()
        };
        collector.update_agent(agent).await.expect("agent registered");
        for n in 0.. {
            let id = format!("run-{n}");
            let run = ExecutionEvent {
                id: id.clone(),
                agent_id: "my-agent".into(),
                status: Some(ExecutionStatus::Running),
                ..Default::default()
            };
            collector.execution(run).await.expect("execution recorded");
            collector
                .log(&id, LogLevel::Info, "thinking about the task")
                .await
                .expect("log recorded");
            let call = LlmCallEvent {
                execution_id: Some(id.clone()),
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                tokens_in: 900,
                tokens_out: 150,
                latency_ms: 850.0,
                ttft_ms: Some(210.0),
                ..Default::default()
            };
            collector.update_llm(call).await.expect("llm call recorded");
            tokio::time::sleep(Duration::from_secs(2)).await;
            collector
                .execution_status(&id, ExecutionStatus::Completed, None)
                .await
                .expect("status recorded");
        }
    });

    println!("dashboard on http://127.0.0.1:8090");
    server.serve().await
}
